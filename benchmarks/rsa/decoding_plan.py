"""The random part of the pairwise-decoding protocol, drawn once and shared by every classifier backend.

Protocol (NeuroRA ``tbyt_decoding_kfold`` as the ReAlnet paper ran it, one time point per window): for each image
pair and each of ``n_repeats`` repeats, the repetitions of each image are shuffled and averaged in consecutive groups
of ``navg`` into ``n_pseudo = n_repetitions // navg`` pseudo-trials (leftover repetitions are dropped); the
pseudo-trials of each image are then split into ``n_folds`` stratified folds, drawn anew for every time point (as
NeuroRA does) unless ``folds_per_time=False``.

A :class:`DecodingPlan` holds these draws as integer arrays, so the same plan can be replayed by the numba and
torch backends, or built from another tool's random stream in tests. :func:`draw_plan` draws the repetition order of
each block of ``PLAN_BLOCK`` pairs from ``np.random.default_rng([seed, block])`` and the folds from a counter-based
generator keyed by (pair, repeat, time, image) (numba kernel; :func:`draw_folds_numpy` is the same
generator in numpy), so a
pair's draws never depend on how the work is chunked or on which other pairs are decoded.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmarks.rsa import _native
from benchmarks.rsa._validation import check_positive_int, check_seed

PLAN_BLOCK = 64  # pairs per seeded generator block


@dataclass(frozen=True)
class DecodingPlan:
    """Pseudo-trial groups and folds for a set of image pairs.

    pairs: ``(n_pairs, 2)`` image indices (class 0 = first image, class 1 = second).
    trial_order: ``(n_pairs, n_repeats, 2, n_pseudo * navg)`` repetition indices; pseudo-trial k of class c in
        repeat r is the mean of repetitions ``trial_order[p, r, c, k * navg:(k + 1) * navg]``.
    fold_of: ``(n_pairs, n_repeats, n_fold_times, 2, n_pseudo)`` test-fold index of each pseudo-trial, with
        ``n_fold_times`` = n_times (folds redrawn per time point) or 1 (shared by all time points).
    n_folds: number of folds.
    """

    pairs: np.ndarray
    trial_order: np.ndarray
    fold_of: np.ndarray
    n_folds: int

    @property
    def navg(self) -> int:
        return self.trial_order.shape[-1] // self.fold_of.shape[-1]

    @property
    def n_pseudo(self) -> int:
        return self.fold_of.shape[-1]

    @property
    def n_repeats(self) -> int:
        return self.trial_order.shape[1]

    def validate(self, n_images: int, n_repetitions: int, n_times: int) -> None:
        """Check shapes and index ranges against data ``(n_images, n_repetitions, n_channels, n_times)``."""
        pairs, order, folds = self.pairs, self.trial_order, self.fold_of
        if pairs.ndim != 2 or pairs.shape[1] != 2:
            raise ValueError(f"plan.pairs must be (n_pairs, 2), got shape {pairs.shape}")
        if order.ndim != 4 or order.shape[0] != pairs.shape[0] or order.shape[2] != 2:
            raise ValueError(
                f"plan.trial_order must be (n_pairs={pairs.shape[0]}, n_repeats, 2, n_pseudo * navg), got {order.shape}"
            )
        if folds.ndim != 5 or folds.shape[:2] != order.shape[:2] or folds.shape[3] != 2:
            raise ValueError(
                f"plan.fold_of must be (n_pairs, n_repeats, n_times or 1, 2, n_pseudo) matching trial_order "
                f"{order.shape}, got {folds.shape}"
            )
        if order.shape[3] % folds.shape[4]:
            raise ValueError(
                f"plan.trial_order holds {order.shape[3]} repetitions per class, not a multiple of "
                f"n_pseudo={folds.shape[4]}"
            )
        if folds.shape[2] not in (1, n_times):
            raise ValueError(f"plan.fold_of has {folds.shape[2]} fold time points; data has {n_times} (or use 1)")
        if pairs.min() < 0 or pairs.max() >= n_images or np.any(pairs[:, 0] == pairs[:, 1]):
            raise ValueError(f"plan.pairs must hold two different image indices in [0, {n_images})")
        if order.min() < 0 or order.max() >= n_repetitions:
            raise ValueError(f"plan.trial_order holds repetition indices outside [0, {n_repetitions})")
        if folds.min() < 0 or folds.max() >= self.n_folds:
            raise ValueError(f"plan.fold_of holds fold indices outside [0, {self.n_folds})")
        counts = np.stack([(folds == f).sum(axis=-1) for f in range(self.n_folds)])
        if counts.min() < 1:
            raise ValueError("plan.fold_of leaves a fold without a test pseudo-trial of some class")


def check_protocol(n_repetitions: int, navg: int, n_folds: int, n_repeats: int) -> int:
    """Validate the protocol numbers against the data and return ``n_pseudo`` (pseudo-trials per image)."""
    navg = check_positive_int(navg, "navg")
    n_folds = check_positive_int(n_folds, "n_folds", minimum=2)
    check_positive_int(n_repeats, "n_repeats")
    if n_folds > 127:
        raise ValueError(f"n_folds={n_folds} is more than the 127 folds a plan can index")
    if navg > n_repetitions:
        raise ValueError(
            f"navg={navg} is larger than the number of repetitions per image ({n_repetitions}); "
            "a pseudo-trial averages navg repetitions"
        )
    n_pseudo = n_repetitions // navg
    if n_pseudo < n_folds:
        raise ValueError(
            f"{n_repetitions} repetitions averaged in groups of navg={navg} give {n_pseudo} pseudo-trial(s) per "
            f"image, fewer than n_folds={n_folds}; every fold needs a test pseudo-trial of each image"
        )
    return n_pseudo


def all_pairs(n_images: int) -> np.ndarray:
    """Every image pair in condensed-RDM order, ``(n_pairs, 2)`` int64."""
    rows, cols = np.triu_indices(n_images, k=1)
    return np.stack([rows, cols], axis=1).astype(np.int64)


def draw_plan(
    n_images: int,
    n_repetitions: int,
    n_times: int,
    *,
    navg: int = 5,
    n_folds: int = 4,
    n_repeats: int = 5,
    seed: int = 0,
    folds_per_time: bool = True,
    pair_slice: slice | None = None,
) -> DecodingPlan:
    """Draw the plan for the pairs ``all_pairs(n_images)[pair_slice]`` (default: all pairs).

    Draws for pair number q (condensed order) come from generator ``default_rng([seed, q // PLAN_BLOCK])``, so a
    slice gives exactly the rows the full plan would have.
    """
    n_pseudo = check_protocol(n_repetitions, navg, n_folds, n_repeats)
    seed = check_seed(seed)
    pairs = all_pairs(n_images)
    start, stop, step = (pair_slice or slice(None)).indices(len(pairs))
    if step != 1:
        raise ValueError("pair_slice must be contiguous (step 1)")
    n_used = n_pseudo * navg
    n_fold_times = n_times if folds_per_time else 1
    order_dtype = np.int16 if n_repetitions < 2**15 else np.int32
    orders = []
    for block in range(start // PLAN_BLOCK, (stop - 1) // PLAN_BLOCK + 1 if stop > start else start // PLAN_BLOCK):
        rng = np.random.default_rng([int(seed), block])
        block_start = block * PLAN_BLOCK
        block_size = min(PLAN_BLOCK, len(pairs) - block_start)
        shuffled = rng.permuted(
            np.broadcast_to(np.arange(n_repetitions, dtype=order_dtype), (block_size, n_repeats, 2, n_repetitions)),
            axis=-1,
        )[..., :n_used]
        lo, hi = max(start, block_start) - block_start, min(stop, block_start + block_size) - block_start
        orders.append(shuffled[lo:hi])
    if not orders:
        raise ValueError(f"pair_slice {pair_slice} selects no pairs of the {len(pairs)}")
    fold_seed = int(np.random.SeedSequence(int(seed)).generate_state(1, np.uint64)[0])
    fold_arguments = (fold_seed, start, stop - start, n_repeats, n_fold_times, n_pseudo, n_folds)
    fold_of = _native.run_draw_folds(*fold_arguments)
    return DecodingPlan(
        pairs=pairs[start:stop],
        trial_order=np.ascontiguousarray(np.concatenate(orders)),
        fold_of=fold_of,
        n_folds=n_folds,
    )


def draw_folds_numpy(seed: int, first_pair: int, n_pairs: int, n_repeats: int, n_fold_times: int, n_pseudo: int,
                     n_folds: int) -> np.ndarray:
    """Stratified fold assignments ``(n_pairs, n_repeats, n_fold_times, 2, n_pseudo)`` int8, bit-identical to the numba
    ``draw_folds``: row ``key`` (pair, repeat, time, image) seeds splitmix64 with ``seed ^ key * 0xD1B54A32D192ED03``
    and Fisher-Yates-shuffles ``k % n_folds``, each output giving two 32-bit draws (high half first)."""
    rows_per_pair = n_repeats * n_fold_times * 2
    keys = np.arange(first_pair * rows_per_pair, (first_pair + n_pairs) * rows_per_pair, dtype=np.uint64)
    values = np.tile((np.arange(n_pseudo) % n_folds).astype(np.int8), (keys.size, 1))
    rows = np.arange(keys.size)
    with np.errstate(over="ignore"):
        state = np.uint64(seed) ^ (keys * np.uint64(0xD1B54A32D192ED03))
        mixed = state
        for i in range(n_pseudo - 1, 0, -1):
            high = (n_pseudo - 1 - i) % 2 == 0
            if high:
                state = state + np.uint64(0x9E3779B97F4A7C15)
                mixed = (state ^ (state >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
                mixed = (mixed ^ (mixed >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
                mixed = mixed ^ (mixed >> np.uint64(31))
            draw = (mixed >> np.uint64(32)) if high else (mixed & np.uint64(0xFFFFFFFF))
            j = ((draw * np.uint64(i + 1)) >> np.uint64(32)).astype(np.int64)
            chosen = values[rows, j]
            values[rows, j] = values[:, i]
            values[:, i] = chosen
    return values.reshape(n_pairs, n_repeats, n_fold_times, 2, n_pseudo)


def accuracy_denominator(n_pseudo: int, n_folds: int, n_repeats: int, fold_of: np.ndarray | None = None) -> int:
    """D such that every decoding accuracy of this protocol is k / D with an integer k: the accuracy is the mean
    over ``n_repeats`` x ``n_folds`` folds of (correct / n_test), so D = n_repeats * n_folds * lcm of the test-set
    sizes. The sizes are those ``fold_of`` holds (a given plan), else every size a stratified split of ``n_pseudo``
    pseudo-trials per image into ``n_folds`` folds can give (2 floor .. 2 ceil of n_pseudo / n_folds)."""
    import math

    if fold_of is not None:
        sizes = {int(v) for f in range(n_folds)
                 for v in np.unique((np.asarray(fold_of) == f).sum(axis=(-2, -1)))}
    else:
        low, high = n_pseudo // n_folds, -(-n_pseudo // n_folds)
        sizes = set(range(2 * low, 2 * high + 1))
    return n_repeats * n_folds * math.lcm(*sorted(size for size in sizes if size > 0))


def smooth_over_time(values: np.ndarray, window: int = 5, denominator: int | None = None) -> np.ndarray:
    """Centred moving average along the last axis, shrinking at the edges (NeuroRA 1.x ``smooth_1d``).

    Point t averages ``values[..., t - window // 2 : t + window - window // 2]`` clipped to the valid range, so the
    first and last points average fewer samples (an even window is therefore one sample later than centred, as in
    NeuroRA). ``window <= 1`` returns a copy. ``(..., n_times)`` in and out.

    Each window is summed directly, in time order: equal input sequences give bit-equal averages, so tied
    accuracies stay tied and an RDM of equal accuracies stays constant (a running-sum difference left them apart
    by ~1e-16, which a rank correlation then ordered as if real). With ``denominator`` D (decoding accuracies are
    k / D, :func:`accuracy_denominator`) the numerators k are summed as exact integers and each result is the
    correctly rounded k_sum / (D n): equal averages are then equal floats whatever values they came from (a sum of
    other floats with the same exact mean can round differently). The values must lie within 1e-6 / D of that
    grid (``ValueError`` otherwise).
    """
    window = check_positive_int(window, "smooth_window")
    values = np.asarray(values, dtype=np.float64)
    if denominator is not None:
        numerators = np.round(values * denominator)
        off = float(np.nanmax(np.abs(values * denominator - numerators), initial=0.0))
        if off > 1e-6:
            raise ValueError(f"values are not multiples of 1/{denominator} (off by {off:.3g} / {denominator})")
        values = numerators
    if window == 1:
        return values / denominator if denominator is not None else values.copy()
    n_times = values.shape[-1]
    before, after = window // 2, window - window // 2
    total = np.zeros_like(values)
    for offset in range(-before, after):  # x + 0.0 == x: samples outside the range add nothing
        lo, hi = max(0, -offset), min(n_times, n_times - offset)
        total[..., lo:hi] += values[..., lo + offset:hi + offset]
    starts = np.clip(np.arange(n_times) - before, 0, n_times)
    stops = np.clip(np.arange(n_times) + after, 0, n_times)
    return total / ((stops - starts) * (denominator or 1))
