"""Resolving ``--models`` / ``--benchmarks`` patterns to ids, with one clear error per pattern that matches nothing."""
from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence

import model_registry
from benchmarks.registry import benchmark_factory, list_benchmarks

WILDCARDS = frozenset("*?[")


def split_patterns(patterns: str | Iterable[str]) -> list[str]:
    """``'a*,b'`` or ``['a*', 'b']`` -> ``['a*', 'b']`` (blank entries dropped)."""
    items = patterns.split(",") if isinstance(patterns, str) else list(patterns)
    return [p.strip() for p in items if p and p.strip()]


def _resolve(patterns: str | Iterable[str], kind: str, listing: Callable[[str], list[str]],
             exists: Callable[[str], bool]) -> list[str]:
    chosen: list[str] = []
    entries = split_patterns(patterns)
    if not entries:
        raise ValueError(f"no {kind} pattern given")
    for pattern in entries:
        if WILDCARDS.isdisjoint(pattern):
            matches = [pattern] if exists(pattern) else []
        else:
            matches = listing(pattern)
        if not matches:
            known = listing("*")
            close = difflib.get_close_matches(pattern.rstrip("*?"), known, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(known[:12])}" + (
                ", ..." if len(known) > 12 else "")
            raise ValueError(f"no {kind} matches {pattern!r}{hint}")
        chosen.extend(m for m in matches if m not in chosen)
    return chosen


def resolve_models(patterns: str | Sequence[str]) -> list[str]:
    """Model ids for comma-separated shell wildcards (exact ids of open families such as ``timm:resnet50`` too)."""
    return _resolve(patterns, "model", model_registry.list_models, model_registry.is_model)


def resolve_benchmarks(patterns: str | Sequence[str]) -> list[str]:
    """Benchmark ids for comma-separated shell wildcards (exact ids of benchmark families too)."""
    return _resolve(patterns, "benchmark", list_benchmarks, lambda i: benchmark_factory(i) is not None)
