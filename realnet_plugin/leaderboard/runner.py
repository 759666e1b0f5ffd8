"""Scoring every (model, benchmark) pair into the leaderboard database, skipping pairs already scored.

Each benchmark is built once per process and run (:func:`realnet_plugin.api.shared_benchmark`; read, validated, then
reused for every model: its data files are read once per worker, not once per pair); each model is built once to
fingerprint it, and as soon as a model's fingerprint is known its pairs are queued, so the worker that built it can
score them with the same network. A pair runs only when its key (model, model fingerprint, benchmark, version,
options) has no ``ok`` row; the fingerprint covers what the model computes (weights, preprocessing, layers, region
map, layouts, visual degrees, extraction code), so the same weights with another definition are scored again.

Checked first, in this process, before the database is opened: the ids, and that at least one benchmark accepts
the options (otherwise one line, nothing written). Each benchmark is then built and validated (data files, subjects,
...) before any model is built; a benchmark that fails gives error rows for its pairs (naming the option or file),
and when no benchmark is usable no model is built at all. A score that is not a finite number is stored as an error
row, never as ``ok``.

Only this process writes the database; jobs are submitted a few at a time and each pair is checked against the
database just before it is submitted, so two overlapping runs do not score the same pair twice.
"""
from __future__ import annotations

import math
import os
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from .backends import make_backend
from .records import PairKey, PairResult, canonical_options, describe_error, failed_result
from .selection import resolve_benchmarks, resolve_model_entries
from .store import LeaderboardStore
from .tasks import (
    BenchmarkInfo,
    ModelInfo,
    ModelTask,
    PairTask,
    describe_benchmark,
    describe_model,
    import_plugins,
    model_fingerprint,
    provenance_attrs,
    run_benchmark,
    score_pair,
)

SCORED, CACHED, FAILED = "scored", "cached", "error"


@dataclass(frozen=True)
class PairOutcome:
    """What happened to one pair in a run: ``scored``, ``cached`` (an ok row existed) or ``error``."""

    model: str
    benchmark: str
    status: str
    result: PairResult


@dataclass
class LeaderboardRun:
    """Every pair of a run, in model-then-benchmark order, plus the database path."""

    db: str
    models: list[str]
    benchmarks: list[str]
    outcomes: list[PairOutcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def results(self) -> list[PairResult]:
        return [o.result for o in self.outcomes]

    def summary(self) -> str:
        return (f"{len(self.outcomes)} pairs: {self.count(SCORED)} scored, {self.count(CACHED)} already in "
                f"{self.db}, {self.count(FAILED)} failed")


def _gather(backend, jobs: list[tuple], progress, description: str) -> list:
    futures = [backend.submit(fn, *args) for fn, *args in jobs]
    with tqdm(total=len(futures), desc=description, unit="item", disable=not progress, leave=False) as bar:
        pending = set(futures)
        while pending:
            done = backend.wait_any(pending)
            pending -= done
            bar.update(len(done))
    return [backend.result(f) for f in futures]


def run_leaderboard(models: str | Sequence, benchmarks: str | Sequence[str], *,
                    db: str | os.PathLike | None = None, workers: int = 1, scheduler=None,
                    random_weights: bool = False, benchmark_options: dict | None = None,
                    model_options: dict | None = None, imports: Sequence[str] = (), seed: int = 0,
                    rescore: bool = False, progress: bool = True) -> LeaderboardRun:
    """Score every model matching ``models`` on every benchmark matching ``benchmarks`` (comma-separated shell
    wildcards or lists of ids) and store the results in the SQLite file ``db`` (default
    ``$REALNET_HOME/leaderboard.sqlite``).

    ``models`` may mix patterns (``'brainscore:resnet50_*'`` resolves over the installed brainscore_vision's
    plugins) with RDM models (:class:`benchmarks.rdm_model.RdmModel`, ``rsatoolbox.rdm.RDMs``): an RDM model's row
    is keyed by its identifier and content hash (sha256 of its stimulus ids and RDMs, in the weights-hash column),
    and its provenance (source, measure, content hash) is stored with every row and shown on the page. Every
    model's key holds the hash of what it computes (a ``brainscore:`` model's: the weights of the network its
    plugin builds), so a changed plugin or retrained model gets a new row and is scored again.

    ``workers > 1`` uses a local process pool, ``scheduler`` (``tcp://host:port`` or a ``distributed.Client``) a
    Dask cluster. ``random_weights`` scores seeded random initialisations (``seed``). ``benchmark_options`` go to
    every benchmark and are part of the key; ``model_options`` (device, batch_size, ...) are not. ``imports`` are
    modules this process and every worker import first (to register extra models/benchmarks, so their ids resolve).
    ``rescore`` ignores stored rows.
    A failing pair is stored as an error row and the run goes on.

    Raises (one line, before the database is opened): ``ValueError`` for patterns matching nothing, options no
    benchmark accepts, RDM models with ``random_weights`` or with an identifier that is a model id or repeated;
    ``TypeError`` for a model entry that is neither a pattern nor RDMs.
    """
    imports = tuple(imports)
    import_plugins(imports)  # here too: the ids and benchmarks they register are resolved in this process
    entries = resolve_model_entries(models)
    rdm_models = [identifier for identifier, candidate in entries if candidate is not None]
    if random_weights and rdm_models:
        raise ValueError(f"random_weights applies to networks; RDM model {rdm_models[0]} has no weights to "
                         "initialise (score it in a run without random_weights)")
    model_ids, benchmark_ids = [identifier for identifier, _ in entries], resolve_benchmarks(benchmarks)
    benchmark_options = dict(benchmark_options or {})
    options_key = canonical_options(benchmark_options)
    check_options_fit(benchmark_ids, benchmark_options)  # before anything is opened or built
    with LeaderboardStore(db) as store:
        run = LeaderboardRun(str(store.path), model_ids, benchmark_ids)
        backend = make_backend(workers, scheduler)
        # the models' own bars (activations img/s) follow the run's progress flag; workers never draw bars
        run_options = {"progress": False} if backend.name != "serial" or not progress else {}
        run_options.update(model_options or {})
        run_id = uuid.uuid4().hex
        model_tasks = [ModelTask(m, not random_weights, seed, run_options if candidate is None else {}, imports,
                                 run_id, candidate) for m, candidate in entries]
        try:
            described = _gather(backend, [(describe_and_validate, b, benchmark_options, imports, run_id,
                                           len(benchmark_ids)) for b in benchmark_ids], progress,
                                "checking benchmarks")
            bench_infos: dict[str, BenchmarkInfo] = {info.benchmark: info for info in described}
            if all(info.message for info in bench_infos.values()):  # nothing to score: build no model
                outcomes = _record_unusable(store, model_tasks, bench_infos, options_key)
            else:
                outcomes = _score_models(backend, store, model_tasks, bench_infos, benchmark_options, options_key,
                                         rescore, progress)
        finally:
            backend.close()
        run.outcomes = [outcomes[m, b] for m in model_ids for b in benchmark_ids]
    return run


def check_options_fit(benchmark_ids: Sequence[str], options: dict) -> None:
    """Raise the option error (one line) when no benchmark of the run accepts ``options`` (a typo, a malformed
    value): nothing could be scored. Where only some refuse them, those pairs become error rows naming the option."""
    from benchmarks.options import BenchmarkOptionError
    from benchmarks.registry import check_benchmark_options

    if "root" in options and len(benchmark_ids) > 1:  # one data folder cannot hold several datasets
        from benchmarks.registry import benchmark_options, declared_benchmarks

        owners = declared_benchmarks()
        readers = [b for b in benchmark_ids if "root" in (benchmark_options(b) or {})]
        if len({owners.get(b, b) for b in readers}) > 1:
            raise BenchmarkOptionError(
                f"option root={options['root']!r} would be given to every benchmark of the run "
                f"({', '.join(readers)}), which read different datasets; run one leaderboard per data folder, "
                "or leave root out (each benchmark then reads $REALNET_DATA_DIR/<dataset>)")
    refused = []
    for benchmark in benchmark_ids:
        try:
            check_benchmark_options(benchmark, options)
        except BenchmarkOptionError as error:
            refused.append(error)
        else:
            return
    if refused:
        n = len(refused) - 1
        others = f" (so do the {n} other selected benchmark{'s' if n > 1 else ''})" if n else ""
        raise BenchmarkOptionError(f"{refused[0]}{others}")


def describe_and_validate(benchmark: str, options: dict, imports: Sequence[str] = (), run_id: str = "",
                          run_benchmarks: int = 1) -> BenchmarkInfo:
    """:func:`describe_benchmark`, then the benchmark's own input checks (``validate()``: data files, subjects,
    ...) on the same object, kept for the run (with its ``run_benchmarks`` benchmarks, :func:`run_benchmark`); a
    failure comes back as ``message`` (run in a worker)."""
    info = describe_benchmark(benchmark, options, imports, run_id, run_benchmarks)
    if info.message:
        return info
    from realnet_plugin.api import validate_benchmark

    try:
        validate_benchmark(run_benchmark(benchmark, options, run_benchmarks))
    except Exception as error:
        return BenchmarkInfo(benchmark, info.options, info.version, message=describe_error(error))
    return info


def _record_unusable(store: LeaderboardStore, model_tasks: list[ModelTask], bench_infos: dict[str, BenchmarkInfo],
                     options_key: str) -> dict[tuple[str, str], PairOutcome]:
    """Every benchmark failed to build or validate: an error row per pair, without building any model."""
    outcomes = {}
    for task in model_tasks:
        candidate = task.candidate
        info = ModelInfo(task.model, task.pretrained, candidate.content_hash() if candidate is not None else None,
                         fingerprint=model_fingerprint(candidate) if candidate is not None else None)
        for failure in _pairs_of(info, task, bench_infos, {}, options_key)[1]:
            store.record(failure)
            outcomes[failure.model, failure.benchmark] = PairOutcome(failure.model, failure.benchmark, FAILED,
                                                                     failure)
    return outcomes


def finite_or_error(result: PairResult) -> PairResult:
    """``result``, or an error result when it claims ``ok`` without a finite score (NaN, inf, missing): an
    undefined score is never stored as a success."""
    if not result.ok or (result.score is not None and math.isfinite(result.score)):
        return result
    found = "NaN or missing" if result.score is None else result.score
    return failed_result(model=result.model, benchmark=result.benchmark, weights_hash=result.weights_hash,
                         benchmark_version=result.benchmark_version, options=result.options,
                         pretrained=result.pretrained, seconds=result.seconds, attrs=result.attrs,
                         model_fingerprint=result.model_fingerprint,
                         message=f"the score is undefined ({found}; raw {result.raw}, ceiling {result.ceiling}); "
                                 "stored as an error, not a success")


def _pairs_of(info: ModelInfo, task: ModelTask, bench_infos: dict[str, BenchmarkInfo], benchmark_options: dict,
              options_key: str) -> tuple[list[tuple[PairKey, PairTask, str]], list[PairResult]]:
    """The pairs to score for a described model, and error results for pairs that cannot run."""
    jobs, failures = [], []
    for benchmark, b_info in bench_infos.items():
        if info.message or b_info.message:
            reason = (f"model {info.model} could not be built: {info.message}" if info.message
                      else f"benchmark {benchmark} could not be built: {b_info.message}")
            failures.append(failed_result(model=info.model, benchmark=benchmark, message=reason,
                                          weights_hash=info.weights_hash or "", benchmark_version=b_info.version or "",
                                          options=options_key, pretrained=task.pretrained,
                                          attrs=provenance_attrs(task), model_fingerprint=info.fingerprint or ""))
            continue
        key = PairKey(info.model, info.fingerprint, benchmark, b_info.version, options_key)
        jobs.append((key, PairTask(task, benchmark, benchmark_options, len(bench_infos)), info.weights_hash))
    return jobs, failures


def _score_models(backend, store: LeaderboardStore, model_tasks: list[ModelTask],
                  bench_infos: dict[str, BenchmarkInfo], benchmark_options: dict, options_key: str, rescore: bool,
                  progress: bool) -> dict[tuple[str, str], PairOutcome]:
    """Describe models and score their pairs, at most ``backend.slots`` jobs at a time; record results as they come.

    A described model's pairs go to the front of the queue (in a serial run the network just built is reused).
    """
    outcomes: dict[tuple[str, str], PairOutcome] = {}
    queue: deque = deque(("model", task) for task in model_tasks)
    in_flight: dict = {}
    with tqdm(total=len(model_tasks) * len(bench_infos), desc="scoring pairs", unit="pair",
              disable=not progress) as bar:

        def finish(key_model: str, benchmark: str, status: str, result: PairResult) -> None:
            outcomes[key_model, benchmark] = PairOutcome(key_model, benchmark, status, result)
            bar.update(1)
            bar.set_postfix_str(f"{key_model} / {benchmark}", refresh=False)

        while queue or in_flight:
            while queue and len(in_flight) < backend.slots:
                kind, job = queue.popleft()
                if kind == "model":
                    in_flight[backend.submit(describe_model, job)] = (kind, job)
                    continue
                key, task, _ = job
                stored = None if rescore else store.get(key)
                if stored is not None and stored.ok:
                    finish(key.model, key.benchmark, CACHED, stored)
                    continue
                in_flight[backend.submit(score_pair, task)] = (kind, job)
            if not in_flight:
                continue
            for future in backend.wait_any(list(in_flight)):
                kind, job = in_flight.pop(future)
                if kind == "model":
                    info = _model_info(backend, future, job)
                    jobs, failures = _pairs_of(info, job, bench_infos, benchmark_options, options_key)
                    for failure in failures:
                        store.record(failure)
                        finish(failure.model, failure.benchmark, FAILED, failure)
                    queue.extendleft(("pair", pair) for pair in reversed(jobs))
                    continue
                key, task, weights = job
                try:
                    result = backend.result(future)
                except Exception as error:  # the worker itself died (out of memory, killed)
                    result = failed_result(model=key.model, benchmark=key.benchmark, weights_hash=weights,
                                           benchmark_version=key.benchmark_version, options=key.options,
                                           model_fingerprint=key.model_fingerprint,
                                           message=f"worker failed: {type(error).__name__}: {error}",
                                           pretrained=task.model_task.pretrained,
                                           attrs=provenance_attrs(task.model_task))
                result = finite_or_error(result)
                store.record(result)
                finish(key.model, key.benchmark, SCORED if result.ok else FAILED, result)
    return outcomes


def _model_info(backend, future, task: ModelTask) -> ModelInfo:
    try:
        return backend.result(future)
    except Exception as error:  # the worker died while building
        return ModelInfo(task.model, task.pretrained, None, message=f"worker failed: {type(error).__name__}: {error}")
