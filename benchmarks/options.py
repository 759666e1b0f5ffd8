"""Benchmark options checked before anything is built: names against the benchmark's declared options, values
against each option's expected form, every error one line in the user's words.

A benchmark module declares its options as ``{name: Option}`` (:func:`option_table`) and registers them with its
id (:func:`benchmarks.registry.register_benchmark`); :func:`benchmarks.registry.load_benchmark` calls
:func:`check_options` first and the benchmark's constructor checks the same values again (direct construction).
Values are JSON-shaped (what ``--option key=value`` gives): numbers, strings, booleans, lists, dicts, ``None``.

Messages::

    unknown option 'windw' for things-eeg-rsa; valid: cache, ceiling, ... window (did you mean window?)
    option window=('0-0.5') for things-eeg-rsa: expected [start, end] in seconds with start < end, e.g.
        window=[0.0, 0.5] (CLI: --option window=[0.0,0.5])
"""
from __future__ import annotations

import difflib
import inspect
import math
import numbers
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class BenchmarkOptionError(ValueError):
    """An unknown benchmark option, or a value not of the option's expected form."""


class _Refused(ValueError):
    """Raised by a validator; :func:`check_options` turns it into a :class:`BenchmarkOptionError`."""


@dataclass(frozen=True)
class Option:
    """One benchmark option: ``expected`` (the form, in words), ``example`` (a valid JSON-like value) and
    ``check(value)`` (raises ``ValueError`` with a short reason, or returns nothing)."""

    expected: str
    example: Any
    check: Callable[[Any], None]


def _cli(value: Any) -> str:
    """``value`` as the CLI's ``--option`` spells it (JSON, no spaces)."""
    import json

    return json.dumps(value, separators=(",", ":"))


def check_options(benchmark: str, table: Mapping[str, Option], options: Mapping[str, Any]) -> None:
    """Raise :class:`BenchmarkOptionError` for the first unknown name or malformed value of ``options``.

    ``benchmark`` names the benchmark in messages; ``table`` is its ``{name: Option}``.
    """
    valid = sorted(table)
    for name in options:
        if name not in table:
            close = difflib.get_close_matches(str(name), valid, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else ""
            listed = ", ".join(valid) if valid else "none"
            raise BenchmarkOptionError(f"unknown option {name!r} for {benchmark}; valid: {listed}{hint}")
    for name, value in options.items():
        check_value(benchmark, name, table[name], value)


def check_value(benchmark: str, name: str, option: Option, value: Any) -> None:
    """Raise :class:`BenchmarkOptionError` when ``value`` is not of ``option``'s form (message names both)."""
    try:
        option.check(value)
    except (ValueError, TypeError) as error:
        reason = f" ({error})" if str(error) else ""
        raise BenchmarkOptionError(
            f"option {name}={value!r} for {benchmark}{reason}: expected {option.expected}, e.g. "
            f"{name}={option.example!r} (CLI: --option {name}={_cli(option.example)})") from None


def check_signature(table: Mapping[str, Option], function: Callable, exclude: Sequence[str] = ()) -> None:
    """Raise ``TypeError`` when ``table`` and the keyword parameters of ``function`` (minus ``exclude``) differ:
    a declared option must reach the constructor and every constructor option must be checked."""
    parameters = [p.name for p in inspect.signature(function).parameters.values()
                  if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in ("self", *exclude)]
    if set(parameters) != set(table):
        raise TypeError(f"option table of {function.__qualname__} does not match its signature: only in the "
                        f"table {sorted(set(table) - set(parameters))}, only in the signature "
                        f"{sorted(set(parameters) - set(table))}")


# --- validators: each raises ValueError (short reason) or returns None ---------------------------------------------
def _a(value: Any) -> str:
    """``'a str'``, ``'an int'``: the type of ``value`` with its article."""
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))


def _is_list(value: Any) -> bool:
    return isinstance(value, (list, tuple))


def boolean(value: Any) -> None:
    """``True`` or ``False``."""
    if not isinstance(value, bool):
        raise _Refused(_a(value))


def integer(minimum: int | None = None) -> Callable[[Any], None]:
    """An integer ``>= minimum``."""

    def check(value: Any) -> None:
        if not _is_int(value):
            raise _Refused(_a(value))
        if minimum is not None and value < minimum:
            raise _Refused(f"below {minimum}")

    return check


def number(minimum: float | None = None, maximum: float | None = None, *,
           positive: bool = False) -> Callable[[Any], None]:
    """A finite number in ``[minimum, maximum]`` (``positive``: > 0)."""

    def check(value: Any) -> None:
        if not _is_number(value):
            raise _Refused(_a(value) if not isinstance(value, numbers.Real) else "not finite")
        if positive and not value > 0:
            raise _Refused("not > 0")
        if minimum is not None and value < minimum or maximum is not None and value > maximum:
            raise _Refused(f"outside [{minimum}, {maximum}]")

    return check


def number_pair(value: Any) -> None:
    """``[start, end]``: two finite numbers, start < end."""
    if not _is_list(value) or len(value) != 2:
        raise _Refused(_a(value) + (f" of {len(value)} values" if _is_list(value) else ""))
    if not all(_is_number(v) for v in value):
        raise _Refused("not two finite numbers")
    if not value[0] < value[1]:
        raise _Refused("start is not before end")


def number_list(minimum: float | None = None) -> Callable[[Any], None]:
    """A non-empty list of finite numbers, each ``>= minimum``."""

    def check(value: Any) -> None:
        if not _is_list(value) or not value:
            raise _Refused(_a(value) if not _is_list(value) else "empty")
        if not all(_is_number(v) for v in value):
            raise _Refused("not all finite numbers")
        if minimum is not None and any(v < minimum for v in value):
            raise _Refused(f"a value below {minimum}")

    return check


def positive_int_list(value: Any) -> None:
    """A non-empty list of distinct integers >= 1."""
    if not _is_list(value) or not value:
        raise _Refused(_a(value) if not _is_list(value) else "empty")
    if not all(_is_int(v) and v >= 1 for v in value):
        raise _Refused("not all integers >= 1")
    if len(set(value)) != len(value):
        raise _Refused("repeated entries")


def string_list(value: Any) -> None:
    """A non-empty list of distinct, non-empty strings."""
    if not _is_list(value) or not value:
        raise _Refused(_a(value) if not _is_list(value) else "empty")
    if not all(isinstance(v, str) and v for v in value):
        raise _Refused("not all non-empty strings")
    if len(set(value)) != len(value):
        raise _Refused("repeated entries")


def choice(choices: Sequence[str]) -> Callable[[Any], None]:
    """One of ``choices``."""

    def check(value: Any) -> None:
        if value not in choices:
            close = difflib.get_close_matches(str(value), list(choices), n=1, cutoff=0.6)
            raise _Refused(f"did you mean {close[0]}?" if close else "")

    return check


def path(value: Any) -> None:
    """A non-empty path string (or ``os.PathLike``); existence is checked when the data is read."""
    if isinstance(value, os.PathLike):
        return
    if not isinstance(value, str) or not value:
        raise _Refused(_a(value))


def optional(check: Callable[[Any], None]) -> Callable[[Any], None]:
    """``None`` (the default) or a value ``check`` accepts."""

    def accept(value: Any) -> None:
        if value is not None:
            check(value)

    return accept


def either(*checks: Callable[[Any], None]) -> Callable[[Any], None]:
    """A value any of ``checks`` accepts (otherwise the last non-empty reason is reported)."""

    def accept(value: Any) -> None:
        reason = ""
        for check in checks:
            try:
                check(value)
                return
            except (ValueError, TypeError) as error:
                reason = str(error) or reason
        raise _Refused(reason)

    return accept


def mapping(value: Any) -> None:
    """A dict with string keys."""
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise _Refused(_a(value))


def string(value: Any) -> None:
    """A non-empty string."""
    if not isinstance(value, str) or not value:
        raise _Refused(_a(value))
