"""Input checks shared by the RSA metrics: every message names the argument, what it got and what was expected."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def as_float_array(value, name: str, ndim: int | Sequence[int], dims: str, finite: bool = True) -> np.ndarray:
    """Return ``value`` as a float32/float64 array with the given ``ndim``, rejecting NaN/inf unless ``finite=False``.

    ``dims`` names the axes for the error message, e.g. ``"(n_images, n_features)"``.
    """
    array = np.asarray(value)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise TypeError(f"{name} must be a numeric array {dims}, got dtype {array.dtype}")
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float64)
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if array.ndim not in allowed:
        expected = " or ".join(f"{d}-D" for d in allowed)
        raise ValueError(f"{name} must be {expected} {dims}, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape}); expected {dims}")
    if finite:
        check_finite(array, name)
    return array


def check_finite(array: np.ndarray, name: str) -> None:
    """Raise ValueError naming the first non-finite entry of ``array``."""
    finite = np.isfinite(array)
    if not finite.all():
        bad = np.argwhere(~finite)[0]
        raise ValueError(
            f"{name} contains {int((~finite).sum())} non-finite value(s) (NaN or inf), "
            f"first at index {tuple(int(i) for i in bad)}: {array[tuple(bad)]}"
        )


def n_images_from_pairs(n_pairs: int, name: str) -> int:
    """Number of images n such that n*(n-1)/2 == n_pairs, else ValueError."""
    n = int(round((1 + np.sqrt(1 + 8 * n_pairs)) / 2))
    if n * (n - 1) // 2 != n_pairs or n < 2:
        raise ValueError(
            f"{name} has {n_pairs} entries per RDM, which is not n*(n-1)/2 for any number of images n >= 2 "
            "(RDMs must be condensed upper-triangle vectors, scipy squareform order)"
        )
    return n


def _looks_square(blocks: np.ndarray) -> bool:
    """Whether every ``(m, m)`` block on the last two axes is symmetric with a zero diagonal (NaN equal to NaN)."""
    diagonal = np.diagonal(blocks, axis1=-2, axis2=-1)
    return bool((diagonal == 0).all()) and np.array_equal(blocks, np.swapaxes(blocks, -1, -2), equal_nan=True)


def n_images_of(rdms: np.ndarray, name: str) -> int:
    """Number of images of condensed RDMs ``(..., n_pairs)`` (:func:`n_images_from_pairs`), refusing square RDMs.

    A square ``(n, n)`` RDM, a stack of them, or one flattened to ``n * n`` entries, has as many entries on its
    last axis as a condensed RDM of other images whenever that count is triangular (n = 3, 6, 10, 15, 21, ...), and
    would be read silently as other RDMs over other pairs. Trailing ``(m, m)`` blocks (or rows of ``m * m``
    entries) that are all symmetric with a zero diagonal are therefore a ``ValueError`` naming ``name``: no real
    stack of condensed RDMs has that structure.
    """
    shape = rdms.shape
    hint = ("this function takes condensed RDMs (..., n_pairs), the upper triangle in scipy squareform order: "
            "convert with scipy.spatial.distance.squareform(rdm, checks=False)")
    if len(shape) >= 2 and shape[-1] == shape[-2] >= 2 and _looks_square(rdms):
        raise ValueError(f"{name} has shape {shape}: its last two axes hold symmetric ({shape[-1]}, {shape[-1]}) "
                         f"matrices with a zero diagonal, i.e. square RDMs; {hint}")
    side = int(round(np.sqrt(shape[-1]))) if shape else 0
    if side >= 3 and side * side == shape[-1] and _looks_square(rdms.reshape(*shape[:-1], side, side)):
        raise ValueError(f"{name} has {shape[-1]} entries per RDM that form symmetric ({side}, {side}) matrices "
                         f"with a zero diagonal, i.e. flattened square RDMs; {hint}")
    return n_images_from_pairs(shape[-1], name)


def check_choice(value: str, name: str, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"unknown {name} {value!r}; expected one of {', '.join(repr(c) for c in choices)}")
    return value


def check_positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_seed(value, name: str = "seed", allow_none: bool = False) -> int | None:
    """A random seed: an integer in [0, 2**32) (the range every numpy generator accepts), or None if allowed."""
    if value is None and allow_none:
        return None
    if (isinstance(value, bool) or not isinstance(value, (int, np.integer))
            or not 0 <= int(value) < 2**32):
        expected = "an integer in [0, 2**32)" + (" or None" if allow_none else "")
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return int(value)


def check_probability(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not 0 < value < 1:
        raise ValueError(f"{name} must be a number strictly between 0 and 1, got {value!r}")
    return float(value)


def ensure_finite(summary: np.ndarray, array: np.ndarray, name: str) -> None:
    """Cheap finiteness check of a large array through a reduction of it (sums keep NaN/inf).

    Only when ``summary`` is not finite is ``array`` scanned, to name the first bad entry.
    """
    if not np.isfinite(summary).all():
        check_finite(array, name)
        raise ValueError(f"{name} has values so large that sums over them overflow (max |value| {np.abs(array).max()})")


def check_eeg_data(data, name: str = "data", min_repetitions: int = 1, finite: bool = True) -> np.ndarray:
    """Validate EEG data of one subject ``(n_images, n_repetitions, n_channels, n_times)``.

    With ``finite=False`` the caller promises to check a reduction with :func:`ensure_finite`.
    """
    array = as_float_array(data, name, 4, "(n_images, n_repetitions, n_channels, n_times)", finite=finite)
    n_images, n_reps = array.shape[:2]
    if n_images < 2:
        raise ValueError(f"{name} has {n_images} image(s); an RDM needs at least 2 (shape {array.shape})")
    if n_reps < min_repetitions:
        raise ValueError(
            f"{name} has {n_reps} repetition(s) per image (shape {array.shape}); "
            f"this method needs at least {min_repetitions}"
        )
    return array
