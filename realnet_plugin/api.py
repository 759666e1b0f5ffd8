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


def validate_benchmark(benchmark) -> None:
    """Run the benchmark's own input checks (data files, metadata, subjects, option-vs-data fit) if it has any
    (``validate()``: our benchmarks; Brain-Score benchmarks have none). Raises their one-line errors."""
    check = getattr(benchmark, "validate", None)
    if callable(check):
        check()


def score(model, benchmark, *, model_options: dict | None = None, preprocessing=None, stimulus_ids=None,
          **benchmark_options) -> Score:
    """Score ``model`` on ``benchmark`` (id or ``Benchmark``) -> Brain-Score ``Score``.

    ``model``: a registered id (``'cornet_s'``, ``'torchvision:resnet18'``, ``'brainscore:alexnet'``), a plain
    ``torch.nn.Module`` (with ``preprocessing=``, default ImageNet's, and the benchmark's ``layers=``), a Brain-Score
    ``ModelCommitment`` or other ``BrainModel``, or RDMs (an ``rsatoolbox.rdm.RDMs`` with a ``stimulus_id``
    pattern descriptor, or ``{layer: (n, n) array}`` with ``stimulus_ids=``); see
    :func:`benchmarks.candidates.as_candidate`. For RDMs ``attrs['model_provenance']`` says where they come from.

    Order: the benchmark is built (its options checked) and validated (its data read and checked, see
    :func:`validate_benchmark`) before the model is loaded, so a bad option or data file fails in one line before
    any network is built or activation extracted. The scalar is the benchmark's ceiled score; ``attrs`` carry
    ``raw``, ``ceiling`` and the benchmark's details, plus ``model_identifier`` and ``benchmark_identifier``.

    Raises ``ValueError`` for options given with a ``Benchmark`` object (they only apply to ids).
    """
    if benchmark_options and not isinstance(benchmark, str):
        raise ValueError(f"benchmark options {sorted(benchmark_options)} apply to a benchmark id; the benchmark "
                         f"object {getattr(benchmark, 'identifier', benchmark)!r} is already built")
    test = load_benchmark(benchmark, **benchmark_options) if isinstance(benchmark, str) else benchmark
    validate_benchmark(test)
    from benchmarks.candidates import as_candidate

    candidate = as_candidate(model, layers=benchmark_options.get("layers"), preprocessing=preprocessing,
                             stimulus_ids=stimulus_ids, **(model_options or {}))
    result = score_benchmark(test, candidate)
    result.attrs["model_identifier"] = candidate.identifier
    result.attrs["benchmark_identifier"] = getattr(test, "identifier", str(benchmark))
    if getattr(candidate, "provenance", None):
        result.attrs["model_provenance"] = dict(candidate.provenance)
    return result


__all__ = ["benchmarks", "list_benchmarks", "list_models", "load_benchmark", "load_model", "score",
           "validate_benchmark"]
