"""Work done in leaderboard workers (local processes or Dask workers); every function takes and returns plain data.

Models are built under a fixed torch seed, so a random-initialisation baseline (``pretrained=False``) has the same
weights, hash and scores in every process. Within one run a worker keeps the last model it built, so consecutive
pairs of the same model reuse it (the key includes the run id: a later run never sees a stale network).
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


@dataclass(frozen=True)
class ModelInfo:
    model: str
    pretrained: bool
    weights_hash: str | None
    num_params: int | None = None
    message: str | None = None


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
    """The :class:`~model_registry.RegisteredModel` of ``task`` with its network built (seeded)."""
    import torch

    import model_registry

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
    """Drop the models kept from the last builds (called when a run ends)."""
    with _LAST_BUILT_LOCK:
        _LAST_BUILT.clear()


def describe_model(task: ModelTask) -> ModelInfo:
    """Build the model and hash its weights; failures come back as ``message``."""
    from model_registry.fingerprint import weights_hash

    try:
        model = build_model(task)
        network = model.network
        return ModelInfo(task.model, task.pretrained, weights_hash(network),
                         sum(p.numel() for p in network.parameters()))
    except Exception as error:
        return ModelInfo(task.model, task.pretrained, None, message=describe_error(error))


def describe_benchmark(benchmark: str, options: dict, imports: Sequence[str] = ()) -> BenchmarkInfo:
    """Build the benchmark and read its ``version``; failures come back as ``message``."""
    from benchmarks.registry import load_benchmark

    encoded = canonical_options(options)
    try:
        import_plugins(imports)
        version = getattr(load_benchmark(benchmark, **options), "version", None)
        return BenchmarkInfo(benchmark, encoded, "" if version is None else str(version))
    except Exception as error:
        return BenchmarkInfo(benchmark, encoded, None, message=describe_error(error))


def score_pair(task: PairTask) -> PairResult:
    """Score one pair; any failure is returned as an error :class:`PairResult` (never raised)."""
    from benchmarks.registry import load_benchmark
    from model_registry.fingerprint import weights_hash
    from realnet_plugin.api import score

    model_task = task.model_task
    options = canonical_options(task.benchmark_options)
    start = time.perf_counter()
    identity = {"model": model_task.model, "benchmark": task.benchmark, "options": options,
                "pretrained": model_task.pretrained}
    hash_value, version = "", ""
    try:
        model = build_model(model_task)
        hash_value = weights_hash(model.network)
        benchmark = load_benchmark(task.benchmark, **task.benchmark_options)
        version = "" if getattr(benchmark, "version", None) is None else str(benchmark.version)
        result = score(model, benchmark)
        return result_from_score(result, weights_hash=hash_value, benchmark_version=version,
                                 seconds=time.perf_counter() - start, **identity)
    except Exception as error:
        return failed_result(message=describe_error(error), weights_hash=hash_value, benchmark_version=version,
                             seconds=time.perf_counter() - start, **identity)
