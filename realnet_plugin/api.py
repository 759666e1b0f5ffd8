"""The public verbs: ``score``, ``load_model``, ``load_benchmark``, ``list_models``, ``list_benchmarks``."""
from __future__ import annotations

from brainscore_core.benchmarks import score_benchmark
from brainscore_core.metrics import Score

import benchmarks
import model_registry
from benchmarks.registry import list_benchmarks as _list_benchmarks
from benchmarks.registry import load_benchmark as _load_benchmark


def load_model(identifier: str, **options) -> model_registry.RegisteredModel:
    """The registered model ``identifier`` as a Brain-Score ``BrainModel`` (options: ``pretrained``, ``device``,
    ``batch_size``, ``cache``, ``progress``)."""
    return model_registry.load_model(identifier, **options)


def load_benchmark(identifier: str, **options):
    """The benchmark ``identifier`` (a Brain-Score ``Benchmark``), built with ``options``."""
    return _load_benchmark(identifier, **options)


def list_models(pattern: str = "*") -> list[str]:
    """Model ids matching the shell wildcard ``pattern`` (comma-separated for several)."""
    return model_registry.list_models(pattern)


def list_benchmarks(pattern: str = "*") -> list[str]:
    """Benchmark ids matching the shell wildcard ``pattern`` (comma-separated for several)."""
    return _list_benchmarks(pattern)


def score(model, benchmark, *, model_options: dict | None = None, **benchmark_options) -> Score:
    """Score ``model`` (id or ``BrainModel``) on ``benchmark`` (id or ``Benchmark``) -> Brain-Score ``Score``.

    The scalar is the benchmark's ceiled score; ``attrs`` carry ``raw``, ``ceiling`` and the benchmark's details,
    plus ``model_identifier`` and ``benchmark_identifier``.
    """
    candidate = load_model(model, **(model_options or {})) if isinstance(model, str) else model
    test = load_benchmark(benchmark, **benchmark_options) if isinstance(benchmark, str) else benchmark
    result = score_benchmark(test, candidate)
    result.attrs["model_identifier"] = candidate.identifier
    result.attrs["benchmark_identifier"] = getattr(test, "identifier", str(benchmark))
    return result


__all__ = ["benchmarks", "list_benchmarks", "list_models", "load_benchmark", "load_model", "score"]
