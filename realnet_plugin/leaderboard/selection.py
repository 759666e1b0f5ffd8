"""Resolving ``--models`` / ``--benchmarks`` patterns to ids, with one clear error per pattern that matches nothing.

Model patterns cover every registered id and the families that can list their ids when the pattern names their
prefix: ``'brainscore:alexnet,brainscore:resnet50_*,cornet_s'`` resolves ``brainscore:resnet50_*`` over the ids the
installed ``brainscore_vision`` registers (:func:`model_registry.brainscore_ids.brainscore_model_ids`), and an
exact ``brainscore:<id>`` that no plugin registers is refused here, before any database is opened or model built.
Besides ids, :func:`resolve_model_entries` takes RDM models (:class:`benchmarks.rdm_model.RdmModel` or an
``rsatoolbox.rdm.RDMs``), which join the leaderboard by their RDMs alone.
"""
from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence

import model_registry
from benchmarks.rdm_model import RdmModel, is_rsatoolbox_rdms
from benchmarks.registry import benchmark_factory, list_benchmarks
from model_registry.brainscore_ids import PREFIX as BRAINSCORE_PREFIX
from model_registry.brainscore_ids import brainscore_model_ids

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


def model_exists(identifier: str) -> bool:
    """Whether ``identifier`` names a model: a registered id, an id of an open family (``timm:resnet50``), and for
    ``brainscore:<id>`` one that a plugin folder of the installed ``brainscore_vision`` registers (the same check
    :func:`~model_registry.brainscore_models.load_commitment` makes, done here before anything is built)."""
    if not model_registry.is_model(identifier):
        return False
    if identifier.startswith(BRAINSCORE_PREFIX):
        return identifier in brainscore_model_ids()
    return True


def resolve_models(patterns: str | Sequence[str]) -> list[str]:
    """Model ids for comma-separated shell wildcards (exact ids of open families such as ``timm:resnet50`` too;
    ``brainscore:<wildcard>`` over the installed brainscore_vision's plugins). Raises ``ValueError`` (one line,
    with close matches) for a pattern that matches nothing."""
    return _resolve(patterns, "model", model_registry.list_models, model_exists)


def resolve_model_entries(models: str | RdmModel | Sequence) -> list[tuple[str, RdmModel | None]]:
    """``(identifier, RDM model or None)`` per model of a leaderboard run, in the order given, each once.

    ``models``: comma-separated patterns, or a list whose items are patterns (resolved by :func:`resolve_models`),
    :class:`~benchmarks.rdm_model.RdmModel` objects or ``rsatoolbox.rdm.RDMs`` (converted by
    :meth:`RdmModel.from_rsatoolbox`: ``stimulus_id`` pattern descriptor, ``layer`` rdm descriptor).
    Raises ``TypeError`` for any other item (naming its position and type) and ``ValueError`` when an RDM model's
    identifier is a model id (registered or of a family) or two entries share an identifier: rows are keyed by it.
    """
    if isinstance(models, str):
        return [(identifier, None) for identifier in resolve_models(models)]
    items = [models] if isinstance(models, RdmModel) or is_rsatoolbox_rdms(models) else list(models)
    if not items:
        raise ValueError("no model pattern given")
    entries: list[tuple[str, RdmModel | None]] = []
    for position, item in enumerate(items):
        if isinstance(item, str):
            entries.extend((identifier, None) for identifier in resolve_models(item))
            continue
        if is_rsatoolbox_rdms(item):
            item = RdmModel.from_rsatoolbox(item)
        if not isinstance(item, RdmModel):
            raise TypeError(f"models[{position}] is of type {type(item).__name__}; the leaderboard takes model ids or "
                            "patterns (str), RdmModel objects and rsatoolbox RDMs (score() takes modules and "
                            "Brain-Score models; register or wrap them under an id)")
        if model_registry.is_model(item.identifier):
            raise ValueError(f"RDM model identifier {item.identifier!r} is a model id; leaderboard rows are keyed "
                             "by identifier, so give the RDMs another one (RdmModel(identifier=...))")
        entries.append((item.identifier, item))
    seen: dict[str, int] = {}
    for identifier, _ in entries:
        seen[identifier] = seen.get(identifier, 0) + 1
    repeated = [i for i, n in seen.items() if n > 1]
    if any(entries[i][1] is not None for i in range(len(entries)) if entries[i][0] in repeated):
        raise ValueError(f"two models of the run share the identifier {repeated[0]!r}; leaderboard rows are keyed "
                         "by identifier")
    unique: list[tuple[str, RdmModel | None]] = []
    for entry in entries:  # the same id matched by two patterns is scored once
        if entry[0] not in (e[0] for e in unique):
            unique.append(entry)
    return unique


def resolve_benchmarks(patterns: str | Sequence[str]) -> list[str]:
    """Benchmark ids for comma-separated shell wildcards (exact ids of benchmark families too)."""
    return _resolve(patterns, "benchmark", list_benchmarks, lambda i: benchmark_factory(i) is not None)
