"""Work done in leaderboard workers (local processes or Dask workers); every function takes and returns plain data.

Models are built under a fixed torch seed, so a random-initialisation baseline (``pretrained=False``) has the same
weights, hash and scores in every process. Within one run a worker keeps the last model it built, so consecutive
pairs of the same model reuse it (the key includes the run id: a later run never sees a stale network). Each
benchmark is built once per process (:func:`realnet_plugin.api.shared_benchmark`, the package's one benchmark-reuse
mechanism, told to keep every benchmark of the run) and reused for every model, so its data files are read once
per worker, not once per pair; the run's end drops them (:func:`forget_models`).

A pair's key holds the model's fingerprint (:func:`model_fingerprint`: what the model computes, not only its
weights), so a plugin that changes preprocessing, layers, region map, layouts or recurrent steps with the same
weights is scored again.

An RDM model (:class:`benchmarks.rdm_model.RdmModel`) travels inside its :class:`ModelTask` (``candidate``): nothing
is built, its "weights hash" is :meth:`RdmModel.content_hash` (sha256 of its stimulus ids and RDM values), and its
provenance (source, measure, content hash) is kept in every result row's ``attrs['model_provenance']``, error rows
included.
"""
from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from .records import PairResult, canonical_options, describe_error, failed_result, result_from_score


@dataclass(frozen=True)
class ModelTask:
    """Build ``model`` (``pretrained`` weights or a seeded random initialisation) with ``options``."""

    model: str
    pretrained: bool = True
    seed: int = 0
    options: dict = field(default_factory=dict)  # load_model options: device, batch_size, cache, progress
    imports: tuple[str, ...] = ()  # modules that register extra models/benchmarks in the worker
    run_id: str = ""
    candidate: object | None = None  # an RdmModel scored as it is (no network is built)

    @property
    def provenance(self) -> dict | None:
        """The RDM model's provenance (``None`` for a model that is built)."""
        return None if self.candidate is None else dict(self.candidate.provenance)


def model_fingerprint(model) -> str:
    """The key of what ``model`` computes: :meth:`model_registry.RegisteredModel.fingerprint` (weights, preprocessing,
    layers, region map, layouts, visual degrees, extraction code), or for an RDM model sha256 of its content hash
    (stimulus ids and RDM values) and how it treats extra stimulus ids. Raises ``TypeError`` for a model that has
    neither (no result could be keyed safely)."""
    import hashlib
    import json

    from benchmarks.rdm_model import RdmModel

    if isinstance(model, RdmModel):
        facts = {"kind": "rdm_model", "content_sha256": model.content_hash(),
                 "extra_ids": str(getattr(model, "extra_ids", ""))}
        return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()
    fingerprint = getattr(model, "fingerprint", None)
    if not callable(fingerprint):
        raise TypeError(f"model {getattr(model, 'identifier', model)!r} ({type(model).__name__}) has no fingerprint(); "
                        "the leaderboard keys results by what a model computes")
    return fingerprint()


def model_hash(model) -> str:
    """What identifies what ``model`` computes: sha256 of its network's parameters and buffers, or of an RDM
    model's stimulus ids and RDMs."""
    from benchmarks.rdm_model import RdmModel
    from model_registry.storage.fingerprint import weights_hash

    if isinstance(model, RdmModel):
        return model.content_hash()
    return weights_hash(model.network)


def provenance_attrs(task: ModelTask) -> str:
    """``attrs`` JSON for an error row of ``task``: its RDM provenance, so the page names the RDMs' source even when
    they could not be scored (``'{}'`` for a built model)."""
    import json

    provenance = task.provenance
    return "{}" if provenance is None else json.dumps({"model_provenance": provenance}, default=str)


@dataclass(frozen=True)
class ModelInfo:
    model: str
    pretrained: bool
    weights_hash: str | None
    num_params: int | None = None
    message: str | None = None
    fingerprint: str | None = None  # model_fingerprint(model): the key column


@dataclass(frozen=True)
class BenchmarkInfo:
    benchmark: str
    options: str
    version: str | None
    message: str | None = None


@dataclass(frozen=True)
class PairTask:
    """Score ``model_task``'s model on ``benchmark`` built with ``benchmark_options``."""

    model_task: ModelTask
    benchmark: str
    benchmark_options: dict = field(default_factory=dict)
    run_benchmarks: int = 1  # how many benchmarks the run scores (each worker keeps them all)


# thread id -> (key, model): per thread, because Dask workers run several threads and a model object must never
# be shared by two pairs scored at the same time (benchmarks set its recording state)
_LAST_BUILT: dict[int, tuple[tuple, object]] = {}
_LAST_BUILT_LOCK = threading.Lock()


def import_plugins(imports: Sequence[str]) -> None:
    """Import the modules that register extra models or benchmarks (no-op for ones already imported)."""
    for module in imports:
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise ImportError(f"cannot import plugin module {module!r} in the worker: {error}") from error


def build_model(task: ModelTask):
    """The :class:`~model_registry.RegisteredModel` of ``task`` with its network built (seeded); an RDM model task's
    ``candidate`` as it is."""
    import torch

    import model_registry

    if task.candidate is not None:
        return task.candidate
    key = (task.run_id, task.model, task.pretrained, task.seed, repr(sorted(task.options.items())))
    thread = threading.get_ident()
    with _LAST_BUILT_LOCK:
        kept = _LAST_BUILT.pop(thread, None)
    if task.run_id and kept is not None and kept[0] == key:
        with _LAST_BUILT_LOCK:
            _LAST_BUILT[thread] = kept
        return kept[1]
    del kept  # free the previous network before building the next
    import_plugins(task.imports)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(task.seed)
        model = model_registry.load_model(task.model, pretrained=task.pretrained, **task.options)
        model.network  # noqa: B018 (builds now, under the seed)
    if task.run_id:
        with _LAST_BUILT_LOCK:
            _LAST_BUILT[thread] = (key, model)
    return model


def forget_models() -> None:
    """Drop the models kept from the last builds and the benchmarks of the run (called when a run ends)."""
    from realnet_plugin.api import forget_shared_benchmarks

    with _LAST_BUILT_LOCK:
        _LAST_BUILT.clear()
    forget_shared_benchmarks()


def run_benchmark(benchmark_id: str, options: dict, run_benchmarks: int = 1):
    """The benchmark ``benchmark_id`` built with ``options``, one object per process
    (:func:`realnet_plugin.api.shared_benchmark`; shared by the threads of a Dask worker where the benchmark is
    thread-safe, else one per thread), kept with the run's other ``run_benchmarks`` - 1 benchmarks until
    :func:`forget_models`. Raises what :func:`benchmarks.registry.load_benchmark` raises."""
    from realnet_plugin.api import keep_shared_benchmarks, shared_benchmark

    keep_shared_benchmarks(run_benchmarks)
    return shared_benchmark(benchmark_id, **options)


def describe_model(task: ModelTask) -> ModelInfo:
    """Build the model and hash its weights (an RDM model: its content); failures come back as ``message``."""
    try:
        model = build_model(task)
        if task.candidate is not None:
            return ModelInfo(task.model, task.pretrained, model_hash(model), fingerprint=model_fingerprint(model))
        network = model.network
        return ModelInfo(task.model, task.pretrained, model_hash(model), sum(p.numel() for p in network.parameters()),
                         fingerprint=model_fingerprint(model))
    except Exception as error:
        return ModelInfo(task.model, task.pretrained, None, message=describe_error(error))


def describe_benchmark(benchmark: str, options: dict, imports: Sequence[str] = (), run_id: str = "",
                       run_benchmarks: int = 1) -> BenchmarkInfo:
    """Build the benchmark (kept for the run, see :func:`run_benchmark`) and read its ``version``; failures come
    back as ``message``. ``run_id`` is accepted for the callers' symmetry (the run's end drops the objects)."""
    encoded = canonical_options(options)
    try:
        import_plugins(imports)
        version = getattr(run_benchmark(benchmark, options, run_benchmarks), "version", None)
        return BenchmarkInfo(benchmark, encoded, "" if version is None else str(version))
    except Exception as error:
        return BenchmarkInfo(benchmark, encoded, None, message=describe_error(error))


def score_pair(task: PairTask) -> PairResult:
    """Score one pair with the run's benchmark object (built once per process, :func:`run_benchmark`); any failure
    is returned as an error :class:`PairResult` (never raised)."""
    from realnet_plugin.api import score

    model_task = task.model_task
    options = canonical_options(task.benchmark_options)
    start = time.perf_counter()
    identity = {"model": model_task.model, "benchmark": task.benchmark, "options": options,
                "pretrained": model_task.pretrained}
    hash_value, fingerprint, version = "", "", ""
    try:
        model = build_model(model_task)
        hash_value, fingerprint = model_hash(model), model_fingerprint(model)
        import_plugins(model_task.imports)
        benchmark = run_benchmark(task.benchmark, task.benchmark_options, task.run_benchmarks)
        version = "" if getattr(benchmark, "version", None) is None else str(benchmark.version)
        result = score(model, benchmark)
        return result_from_score(result, weights_hash=hash_value, benchmark_version=version,
                                 seconds=time.perf_counter() - start, model_fingerprint=fingerprint, **identity)
    except Exception as error:
        return failed_result(message=describe_error(error), weights_hash=hash_value, benchmark_version=version,
                             seconds=time.perf_counter() - start, attrs=provenance_attrs(model_task),
                             model_fingerprint=fingerprint, **identity)
