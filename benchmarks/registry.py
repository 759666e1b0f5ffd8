"""The benchmark registry: ids -> zero-argument factories, plus open families (``things-fmri-roi.<ROI>``).

Listing is lazy, timm-style: :func:`declare_benchmarks` (called in ``benchmarks/__init__.py``) names, per module,
the ids and families that importing it registers, so :func:`list_benchmarks` imports no benchmark module (nor
torch, xarray or brainscore_vision); the module is imported when one of its ids is loaded or its options asked.
"""
from __future__ import annotations

import difflib
import fnmatch
import importlib
import inspect
import re
from collections.abc import Callable, Iterable, Mapping

from .options import Option, check_options

OptionTable = Mapping[str, Option]
# a table, or identifier -> table (families whose options depend on the id)
OptionSpec = OptionTable | Callable[[str], OptionTable] | None

_FACTORIES: dict[str, Callable[[], object]] = {}
_OPTIONS: dict[str, OptionSpec] = {}
_FAMILIES: list[tuple[re.Pattern, Callable[[str], object], Callable[[], Iterable[str]], OptionSpec]] = []
_DECLARED: dict[str, str] = {}  # id -> module whose import registers it
_DECLARED_FAMILIES: list[tuple[re.Pattern, str, tuple[str, ...]]] = []  # (pattern, module, ids it lists)
_LISTENERS: list[Callable[[str], None]] = []


class UnknownBenchmarkError(KeyError):
    """A benchmark id nobody registered; the message names close matches."""

    def __str__(self) -> str:
        return str(self.args[0])


def register_benchmark(identifier: str, factory: Callable[..., object], options: OptionSpec = None) -> None:
    """Register ``factory(**options) -> Benchmark`` under ``identifier`` (Brain-Score calls it with no options).

    ``options``: the benchmark's ``{name: Option}`` table (:mod:`benchmarks.options`), checked by
    :func:`load_benchmark` before ``factory`` runs; ``None``: the names ``factory``'s signature accepts (no check
    when it takes ``**kwargs``), values left to the factory."""
    if identifier in _FACTORIES:
        raise ValueError(f"benchmark id {identifier!r} is registered twice")
    _FACTORIES[identifier] = factory
    _OPTIONS[identifier] = options
    _notify([identifier])


def register_benchmark_family(pattern: str, make: Callable[..., object],
                              list_ids: Callable[[], Iterable[str]] = lambda: (), options: OptionSpec = None) -> None:
    """Register ids matching the regular expression ``pattern``: ``make(id, **options) -> Benchmark``.

    The ids ``list_ids()`` names now are announced to :func:`on_register` listeners (the Brain-Score bridge);
    ``options``: as for :func:`register_benchmark`, or a function ``identifier -> table``."""
    _FAMILIES.append((re.compile(pattern), make, list_ids, options))
    _notify(list_ids())


def declare_benchmarks(module: str, ids: Iterable[str] = (),
                       families: Iterable[tuple[str, Iterable[str]]] = ()) -> None:
    """Declare, without importing it, that importing ``module`` registers the benchmark ``ids`` and the families
    ``(pattern, ids it lists)``. Listing reads the declarations; loading an id imports its module first.

    Raises ``ValueError`` for an id declared twice. That the declarations equal what the modules register is
    checked by the test suite (tests/benchmarks/test_lazy_listing.py)."""
    for identifier in ids:
        if identifier in _DECLARED:
            raise ValueError(f"benchmark id {identifier!r} is declared twice ({_DECLARED[identifier]}, {module})")
        _DECLARED[identifier] = module
    for pattern, listed in families:
        _DECLARED_FAMILIES.append((re.compile(pattern), module, tuple(listed)))
    _notify([*ids, *(i for _, listed in families for i in listed)])


def declared_benchmarks() -> dict[str, str]:
    """``{id: module}`` of every declared id, family-listed ids included (what listing shows before any import)."""
    declared = dict(_DECLARED)
    for _, module, listed in _DECLARED_FAMILIES:
        declared.update(dict.fromkeys(listed, module))
    return declared


def _import_declaring(identifier: str) -> None:
    """Import the module declared to register ``identifier`` (its id, or a declared family pattern it matches)."""
    if identifier in _FACTORIES:
        return
    module = _DECLARED.get(identifier)
    if module is None:
        module = next((m for pattern, m, _ in _DECLARED_FAMILIES if pattern.fullmatch(identifier)), None)
    if module is not None:
        importlib.import_module(module)


def import_all() -> None:
    """Import every declared benchmark module (what ``import benchmarks`` did before listing became lazy)."""
    for module in dict.fromkeys([*_DECLARED.values(), *(m for _, m, _ in _DECLARED_FAMILIES)]):
        importlib.import_module(module)


def on_register(listener: Callable[[str], None]) -> Callable[[], None]:
    """Call ``listener(identifier)`` for every listed benchmark id now (declared ones included, nothing imported)
    and for every id registered or declared later. Returns a function that stops the calls (used by
    ``realnet_plugin.brainscore.install`` / ``uninstall``)."""
    _LISTENERS.append(listener)
    for identifier in list_benchmarks():
        listener(identifier)

    def stop() -> None:
        if listener in _LISTENERS:
            _LISTENERS.remove(listener)

    return stop


def _notify(identifiers: Iterable[str]) -> None:
    for identifier in identifiers:
        for listener in list(_LISTENERS):
            listener(identifier)


def list_benchmarks(pattern: str = "*") -> list[str]:
    """Benchmark ids matching the shell wildcard ``pattern`` (comma-separated for several), sorted.

    Reads the declarations and what is registered; imports no benchmark module."""
    patterns = [p.strip() for p in pattern.split(",") if p.strip()] or ["*"]
    ids = set(_FACTORIES) | set(declared_benchmarks())
    for _, _, list_ids, _ in _FAMILIES:
        ids.update(list_ids())
    return sorted(i for i in ids if any(fnmatch.fnmatchcase(i, p) for p in patterns))


def benchmark_factory(identifier: str) -> Callable[..., object] | None:
    """Factory ``(**options) -> Benchmark`` of ``identifier``, or ``None`` when unknown (imports the declaring
    module first)."""
    _import_declaring(identifier)
    if identifier in _FACTORIES:
        return _FACTORIES[identifier]
    for pattern, make, _, _ in _FAMILIES:
        if pattern.fullmatch(identifier):
            return lambda **options: make(identifier, **options)
    return None


def benchmark_options(identifier: str) -> dict[str, Option] | None:
    """The ``{name: Option}`` table of ``identifier`` (``None``: unknown id, or a benchmark that declares none)."""
    _import_declaring(identifier)
    spec: OptionSpec = None
    if identifier in _FACTORIES:
        spec = _OPTIONS.get(identifier)
    else:
        for pattern, _, _, family_spec in _FAMILIES:
            if pattern.fullmatch(identifier):
                spec = family_spec
                break
    if callable(spec):
        spec = spec(identifier)
    if spec is None and identifier in _FACTORIES:  # undeclared: the names the factory's signature accepts
        spec = _signature_options(_FACTORIES[identifier])
    return None if spec is None else dict(spec)


def _signature_options(factory: Callable) -> dict[str, Option] | None:
    """``{name: any value}`` for the keyword parameters of ``factory``, or ``None`` when it takes ``**kwargs`` (or
    has no inspectable signature), i.e. when the names it accepts cannot be known."""
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    accept = Option("any value the benchmark accepts", None, lambda value: None)
    return {p.name: accept for p in parameters if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}


def check_benchmark_options(identifier: str, options: Mapping) -> None:
    """Raise :class:`benchmarks.options.BenchmarkOptionError` (one line naming the option, the benchmark and the
    expected form) for an unknown option name or a malformed value; nothing is built."""
    table = benchmark_options(identifier)
    if table is not None:
        check_options(identifier, table, options)


def load_benchmark(identifier: str, **options) -> object:
    """Build the benchmark ``identifier`` with ``options``.

    Raises :class:`UnknownBenchmarkError` (naming close matches) for an unknown id and
    :class:`benchmarks.options.BenchmarkOptionError` for an unknown option or a malformed value (naming the valid
    options / the expected form), before the factory runs. Building reads no data (see the benchmark's
    ``validate()`` for that)."""
    factory = benchmark_factory(identifier)
    if factory is None:
        close = difflib.get_close_matches(identifier, list_benchmarks(), n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UnknownBenchmarkError(f"unknown benchmark id {identifier!r}.{hint} "
                                    f"Known: {', '.join(list_benchmarks())}")
    check_benchmark_options(identifier, options)
    return factory(**options)
