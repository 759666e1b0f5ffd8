"""The benchmark registry: ids -> zero-argument factories, plus open families (``things-fmri-roi.<ROI>``)."""
from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Callable, Iterable

from model_registry.brainscore_bridge import add_resolver

_FACTORIES: dict[str, Callable[[], object]] = {}
_FAMILIES: list[tuple[re.Pattern, Callable[[str], object], Callable[[], Iterable[str]]]] = []


class UnknownBenchmarkError(KeyError):
    """A benchmark id nobody registered; the message names close matches."""

    def __str__(self) -> str:
        return str(self.args[0])


def register_benchmark(identifier: str, factory: Callable[..., object]) -> None:
    """Register ``factory(**options) -> Benchmark`` under ``identifier`` (Brain-Score calls it with no options)."""
    if identifier in _FACTORIES:
        raise ValueError(f"benchmark id {identifier!r} is registered twice")
    _FACTORIES[identifier] = factory


def register_benchmark_family(pattern: str, make: Callable[..., object],
                              list_ids: Callable[[], Iterable[str]] = lambda: ()) -> None:
    """Register ids matching the regular expression ``pattern``: ``make(id, **options) -> Benchmark``."""
    _FAMILIES.append((re.compile(pattern), make, list_ids))


def list_benchmarks(pattern: str = "*") -> list[str]:
    """Benchmark ids matching the shell wildcard ``pattern`` (comma-separated for several), sorted."""
    patterns = [p.strip() for p in pattern.split(",") if p.strip()] or ["*"]
    ids = set(_FACTORIES)
    for _, _, list_ids in _FAMILIES:
        ids.update(list_ids())
    return sorted(i for i in ids if any(fnmatch.fnmatchcase(i, p) for p in patterns))


def benchmark_factory(identifier: str) -> Callable[..., object] | None:
    """Factory ``(**options) -> Benchmark`` of ``identifier``, or ``None`` when unknown."""
    if identifier in _FACTORIES:
        return _FACTORIES[identifier]
    for pattern, make, _ in _FAMILIES:
        if pattern.fullmatch(identifier):
            return lambda **options: make(identifier, **options)
    return None


def load_benchmark(identifier: str, **options) -> object:
    """Build the benchmark ``identifier`` with ``options``; unknown ids raise an error naming close matches."""
    factory = benchmark_factory(identifier)
    if factory is None:
        close = difflib.get_close_matches(identifier, list_benchmarks(), n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UnknownBenchmarkError(f"unknown benchmark id {identifier!r}.{hint} "
                                    f"Known: {', '.join(list_benchmarks())}")
    return factory(**options)


add_resolver("benchmarks", benchmark_factory)
