"""Plain-data records of leaderboard results: what workers return and what the database stores.

A result is keyed by :class:`PairKey` (model id, model fingerprint, benchmark id, benchmark version, options): the
same key means the same numbers, so a pair already scored is never scored again, and a retrained model, a model
whose definition changed with the same weights (preprocessing, layers, region map, layouts, recurrent steps,
visual degrees, extraction code; see :meth:`model_registry.RegisteredModel.fingerprint`) or a revised benchmark
(new version) is. The weights hash (an RDM model's content hash) is kept as its own column, for the page.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

import numpy as np

from realnet_plugin.results import score_to_dict

CI_PAIR_KEYS = ("ci", "confidence_interval", "ci95")
SCORE_CI_KEYS = ("score_ci_low", "score_ci_high")  # our benchmarks: the interval of the score itself
RAW_CI_KEYS = ("raw_ci_low", "raw_ci_high")  # ... and of attrs['raw'] (before the ceiling)
CI_BOUND_KEYS = (SCORE_CI_KEYS, ("ci_low", "ci_high"), ("ci_lower", "ci_upper"))


NON_KEY_OPTIONS = frozenset({"progress"})  # benchmark options that cannot change a score


def canonical_options(options: dict | None) -> str:
    """Options as canonical JSON (sorted keys, no spaces, without :data:`NON_KEY_OPTIONS`): the form in the key."""
    kept = {k: v for k, v in (options or {}).items() if k not in NON_KEY_OPTIONS}
    try:
        return json.dumps(kept, sort_keys=True, separators=(",", ":"))
    except TypeError as error:
        raise ValueError(f"benchmark options must be JSON values (numbers, strings, lists), got {options!r}: "
                         f"{error}") from None


@dataclass(frozen=True)
class PairKey:
    """What makes two results interchangeable: ``model_fingerprint`` is the hash of everything the model computes
    (weights, preprocessing, layers, ...), never the weights alone."""

    model: str
    model_fingerprint: str
    benchmark: str
    benchmark_version: str
    options: str = "{}"


@dataclass(frozen=True)
class PairResult:
    """One scored (or failed) model-benchmark pair, as plain data.

    ``status`` is ``'ok'`` or ``'error'`` (then ``message`` says why and the numbers are ``None``). ``error`` is
    the score's own uncertainty (Brain-Score's ``error`` attr); ``ci_low``/``ci_high`` a confidence interval of the
    score (never of the raw similarity: that one is ``raw_ci_low``/``raw_ci_high`` in ``attrs``, :func:`raw_interval`)
    when the benchmark reports one. ``attrs`` holds every score attribute as JSON.
    """

    model: str
    benchmark: str
    weights_hash: str
    benchmark_version: str
    options: str = "{}"
    model_fingerprint: str = ""  # what the model computes (the key); weights_hash is the weights alone (the page)
    pretrained: bool = True
    status: str = "ok"
    score: float | None = None
    raw: float | None = None
    ceiling: float | None = None
    error: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    message: str | None = None
    seconds: float = 0.0
    attrs: str = "{}"
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    @property
    def key(self) -> PairKey:
        return PairKey(self.model, self.model_fingerprint, self.benchmark, self.benchmark_version, self.options)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def as_dict(self) -> dict:
        return asdict(self)


def scalar(value) -> float | None:
    """A single finite-or-NaN number from a float, numpy value or size-1 xarray; ``None`` for anything else."""
    if value is None:
        return None
    values = getattr(value, "values", value)
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        return None
    if array.size != 1:
        return None
    number = float(array.reshape(-1)[0])
    return None if math.isnan(number) else number


def confidence_interval(attrs: dict) -> tuple[float | None, float | None]:
    """The score's confidence interval ``(low, high)`` from score attrs: ``score_ci_low``/``score_ci_high`` (this
    project's benchmarks), else a foreign benchmark's ``ci``/``confidence_interval``/``ci95`` (pairs) or scalar
    ``ci_low``/``ci_high``; ``(None, None)`` without one (a per-ROI or per-time interval is not the score's)."""
    low, high = SCORE_CI_KEYS
    if low in attrs and high in attrs:
        return scalar(attrs[low]), scalar(attrs[high])
    for key in CI_PAIR_KEYS:
        if key in attrs:
            values = np.asarray(getattr(attrs[key], "values", attrs[key]), dtype=float).reshape(-1)
            if values.size == 2:
                return float(values[0]), float(values[1])
    for low, high in CI_BOUND_KEYS:
        if low in attrs and high in attrs:
            return scalar(attrs[low]), scalar(attrs[high])
    return None, None


def raw_interval(result: PairResult) -> tuple[float | None, float | None]:
    """The interval of the raw similarity (``attrs['raw']``, before the noise ceiling) recorded in ``result.attrs``
    as ``raw_ci_low``/``raw_ci_high``; ``(None, None)`` when the benchmark reported none (or it is NaN)."""
    try:
        attrs = json.loads(result.attrs or "{}")
    except ValueError:
        return None, None
    if not isinstance(attrs, dict):
        return None, None
    return scalar(attrs.get(RAW_CI_KEYS[0])), scalar(attrs.get(RAW_CI_KEYS[1]))


def result_from_score(score, *, model: str, benchmark: str, weights_hash: str, benchmark_version: str,
                      options: str, pretrained: bool, seconds: float, model_fingerprint: str = "") -> PairResult:
    """Turn a Brain-Score ``Score`` into a :class:`PairResult` (numbers pulled out, every attr kept as JSON)."""
    attrs = dict(score.attrs)
    low, high = confidence_interval(attrs)
    return PairResult(
        model=model, benchmark=benchmark, weights_hash=weights_hash, benchmark_version=benchmark_version,
        options=options, model_fingerprint=model_fingerprint, pretrained=pretrained, status="ok",
        score=scalar(score), raw=scalar(attrs.get("raw")),
        ceiling=scalar(attrs.get("ceiling")), error=scalar(attrs.get("error")), ci_low=low, ci_high=high,
        seconds=seconds, attrs=json.dumps(score_to_dict(score), allow_nan=True, default=str))


def failed_result(*, model: str, benchmark: str, message: str, weights_hash: str = "", benchmark_version: str = "",
                  options: str = "{}", pretrained: bool = True, seconds: float = 0.0, attrs: str = "{}",
                  model_fingerprint: str = "") -> PairResult:
    """A :class:`PairResult` recording that the pair could not be scored (``attrs``: JSON facts about the model
    known without a score, e.g. an RDM model's ``model_provenance``)."""
    return PairResult(model=model, benchmark=benchmark, weights_hash=weights_hash,
                      benchmark_version=benchmark_version, options=options, model_fingerprint=model_fingerprint,
                      pretrained=pretrained, status="error",
                      message=message, seconds=seconds, attrs=attrs)


def describe_error(error: BaseException) -> str:
    """One line: the exception type and its message."""
    text = " ".join(str(error).split()) or repr(error)
    return f"{type(error).__name__}: {text}"
