"""Statistics over RSA time courses: cluster-based sign-flip permutation tests and bootstrap confidence intervals.

Cluster test (as MNE ``permutation_cluster_1samp_test`` with its defaults, 1-D over time): t per time point,
cluster-forming threshold from the t distribution at ``p_threshold`` (halved per tail for a two-sided test),
clusters = runs of consecutive supra-threshold points (same sign), cluster mass = sum of t, null distribution = the
largest cluster mass of each sign-flip permutation with the observed one first. With as many permutations as sign
patterns it enumerates them exactly; otherwise it draws them with ``np.random.RandomState(seed)`` exactly as MNE
does, so for the same seed the results are MNE's.

Undefined time points (``undefined='nan'``): a time point where any subject's value is NaN, or where all subjects
have the same value, has no t value; its t is NaN, it never joins a cluster (it splits clusters around it) and it
adds nothing to the null distribution. With the default ``undefined='raise'`` such input is an error.

Bootstrap: images and/or subjects resampled with replacement. A resampled image set repeats pair (i, j) of the
RDM ``c_i c_j`` times (pairs of an image with itself are dropped), so each bootstrap similarity is a weighted
correlation of the original RDM entries; Spearman ranks come from a per-RDM sort done once and an O(n_pairs)
weighted pass per resample (C kernel). With the EEG RDMs given as a ``RankedRDMs`` the sort is kept on that object,
so a benchmark bootstrapping many models against one EEG sorts each EEG RDM once; the per-resample re-ranking is
inherent (a resampled image set changes every rank) and is not reused.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import stats as scipy_stats

from benchmarks.rsa import _native
from benchmarks.rsa._validation import (
    as_float_array,
    check_choice,
    check_positive_int,
    check_probability,
    check_seed,
    n_images_of,
)
from benchmarks.rsa.compare import UNDEFINED, RankedRDMs, compare, rank_rdms, undefined_rows

TAILS = {"greater": 1, "two-sided": 0, "less": -1}


@dataclass(frozen=True)
class ClusterTestResult:
    """Outcome of a cluster permutation test over time.

    t_values ``(n_times,)``; threshold: the cluster-forming |t|; clusters: time-index arrays (for a two-sided
    test positive clusters first, then negative, each in time order, as MNE); cluster_masses and cluster_p_values
    ``(n_clusters,)``; null_distribution ``(n_permutations,)`` (observed maximum first; empty without clusters);
    exact: whether all sign patterns were enumerated.
    """

    t_values: np.ndarray
    threshold: float
    clusters: list[np.ndarray]
    cluster_masses: np.ndarray
    cluster_p_values: np.ndarray
    null_distribution: np.ndarray
    exact: bool
    tail: str = field(default="greater")

    def significant_mask(self, alpha: float = 0.05) -> np.ndarray:
        """``(n_times,)`` bool: time points inside a cluster with p < alpha."""
        mask = np.zeros(self.t_values.shape, dtype=bool)
        for cluster, p_value in zip(self.clusters, self.cluster_p_values):
            if p_value < alpha:
                mask[cluster] = True
        return mask


def subject_values(x, shape: str, undefined: str, cells: str) -> np.ndarray:
    """``x`` as float64 with the axes ``shape`` names, subjects first, for a t test over subjects: NaN allowed at
    undefined ``cells`` when ``undefined='nan'``; ``ValueError`` for infinite values or fewer than 2 subjects."""
    x = as_float_array(x, "x", shape.count(",") + 1, shape, finite=undefined == "raise").astype(np.float64)
    if np.isinf(x).any():
        raise ValueError(f"x holds infinite values; expected finite values (or NaN at undefined {cells})")
    if x.shape[0] < 2:
        raise ValueError(f"x has {x.shape[0]} subject(s); a t test needs at least 2")
    return x


def _tail_code(tail: str) -> int:
    return TAILS[check_choice(tail, "tail", tuple(TAILS))]


def _sign_patterns(n_subjects: int, n_permutations: int, tail: int, seed: int | None) -> tuple[np.ndarray, bool]:
    """Sign-flip patterns ``(n_patterns, n_subjects)`` of +-1 (the identity excluded, MNE's choice and order)."""
    seed = check_seed(seed, "seed", allow_none=True)
    max_patterns = 2 ** (n_subjects - (tail == 0)) - 1
    if n_permutations > max_patterns:
        codes = np.arange(1, max_patterns + 1)
        exact = True
    elif n_subjects <= 20:
        rng = np.random.RandomState(seed)
        codes = rng.choice(max_patterns, n_permutations - 1, replace=False) + 1
        exact = False
    else:
        rng = np.random.RandomState(seed)
        flips = np.zeros((n_permutations - 1, n_subjects), dtype=np.int64)
        seen: set[tuple[int, ...]] = set()
        used = n_subjects - (tail == 0)
        count = 0
        while count < n_permutations - 1:
            draw = tuple((rng.uniform(size=used) < 0.5).astype(int))
            if draw in seen:
                continue
            flips[count, :used] = draw
            if tail == 0 and rng.uniform() < 0.5:
                flips[count] = 1 - flips[count]
            seen.add(draw)
            count += 1
        return 2 * flips - 1, False
    bits = (codes[:, None] >> np.arange(n_subjects - 1, -1, -1)[None, :]) & 1  # most significant bit = subject 0
    return 2 * bits - 1, exact


def _t_statistics(x: np.ndarray) -> np.ndarray:
    """One-sample t of each column over the first axis: ``(..., n_subjects, n_times)`` -> ``(..., n_times)``."""
    n = x.shape[-2]
    with np.errstate(invalid="ignore"):  # NaN columns (undefined time points) stay NaN
        return x.mean(axis=-2) / np.sqrt(x.var(axis=-2, ddof=1) / n)


def _runs(mask: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sums of ``values`` over runs of True in each row of ``mask`` ``(n_rows, n_times)``: (row of run, sum)."""
    starts = mask.copy()
    starts[:, 1:] &= ~mask[:, :-1]
    run_id = np.cumsum(starts.ravel()) - 1
    inside = mask.ravel()
    n_runs = int(starts.sum())
    sums = np.bincount(run_id[inside], weights=values.ravel()[inside], minlength=n_runs)
    rows = np.nonzero(starts)[0]
    return rows, sums


def _max_cluster_masses(t_values: np.ndarray, threshold: float, tail: int) -> np.ndarray:
    """Per row of ``t_values`` ``(n_rows, n_times)`` the cluster mass of largest magnitude (0 without clusters)."""
    n_rows = t_values.shape[0]
    best_positive = np.zeros(n_rows)
    best_negative = np.zeros(n_rows)
    if tail >= 0:
        rows, sums = _runs(t_values > threshold, t_values)
        np.maximum.at(best_positive, rows, sums)
    if tail <= 0:
        rows, sums = _runs(t_values < -threshold, t_values)
        np.minimum.at(best_negative, rows, sums)
    if tail == 1:
        return best_positive
    if tail == -1:
        return best_negative
    return np.where(best_positive >= -best_negative, best_positive, best_negative)


def cluster_permutation_test(
    x,
    *,
    tail: str = "greater",
    p_threshold: float = 0.05,
    n_permutations: int = 1000,
    seed: int | None = 0,
    undefined: str = "raise",
    min_cluster_length: int = 1,
) -> ClusterTestResult:
    """One-sample cluster-based permutation test over time of ``x > 0`` (or two-sided, or ``x < 0``).

    x: ``(n_subjects, n_times)`` (e.g. RSA similarities, or paired differences); tail: ``'greater'``,
    ``'two-sided'`` or ``'less'``; p_threshold: cluster-forming p (per tail); n_permutations counts the identity,
    as in MNE; undefined: ``'raise'`` or ``'nan'`` for time points without a t value (module docstring).

    min_cluster_length: observed clusters shorter than this many time points are dropped from the result after
    the test (their masses and p values with them); the null distribution and the p values of the clusters kept
    are unchanged. Default 1 keeps every cluster: the plain MNE test, whose family-wise error control is what the
    p values mean. 2 is NeuroRA's rule (``n_threshold=2`` in ``clusterbased_permutation_1d_*``, applied after
    MNE's test), which the ReAlnet paper's figures use: it only hides single-point clusters, it never adds one.
    """
    code = _tail_code(tail)
    min_cluster_length = check_positive_int(min_cluster_length, "min_cluster_length", minimum=1)
    check_choice(undefined, "undefined", UNDEFINED)
    x = subject_values(x, "(n_subjects, n_times)", undefined, "time points")
    n_subjects = x.shape[0]
    p_threshold = check_probability(p_threshold, "p_threshold")
    n_permutations = check_positive_int(n_permutations, "n_permutations", minimum=2)
    missing = np.isnan(x)
    filled = np.where(missing, 0.0, x)  # columns holding NaN are undefined anyway
    flat = filled.max(axis=0) == filled.min(axis=0)
    undefined_times = flat | missing.any(axis=0)
    if undefined_times.any():
        if undefined == "raise":
            t = int(np.flatnonzero(flat)[0])
            raise ValueError(f"x is identical across subjects at time index {t}; its t value is undefined")
        x[:, undefined_times] = np.nan
    threshold = float(-scipy_stats.t.ppf(p_threshold / (1 + (code == 0)), n_subjects - 1))
    t_values = _t_statistics(x)
    clusters: list[np.ndarray] = []
    masses: list[float] = []
    for sign in (1, -1):
        if (sign == 1 and code == -1) or (sign == -1 and code == 1):
            continue
        mask = t_values * sign > threshold
        edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
        for start, stop in zip(edges[::2], edges[1::2]):
            clusters.append(np.arange(start, stop))
            masses.append(float(t_values[start:stop].sum()))
    cluster_masses = np.array(masses)
    patterns, exact = _sign_patterns(n_subjects, n_permutations, code, seed)
    if not clusters:
        return ClusterTestResult(t_values, threshold, [], cluster_masses, np.array([]), np.array([]), exact, tail)
    null = np.empty(len(patterns) + 1)
    observed_max = {1: cluster_masses.max(), -1: cluster_masses.min(), 0: np.abs(cluster_masses).max()}[code]
    null[0] = observed_max
    block = max(1, 2_000_000 // max(1, x.size))
    for start in range(0, len(patterns), block):
        flipped = patterns[start:start + block, :, None] * x[None]
        null[1 + start:1 + start + len(flipped)] = _max_cluster_masses(_t_statistics(flipped), threshold, code)
    if code == 1:
        p_values = np.array([np.mean(null >= mass) for mass in cluster_masses])
    elif code == -1:
        p_values = np.array([np.mean(null <= mass) for mass in cluster_masses])
    else:
        p_values = np.array([np.mean(np.abs(null) >= abs(mass)) for mass in cluster_masses])
    if min_cluster_length > 1:  # NeuroRA's rule: after the test, drop the short clusters from what is reported
        keep = [i for i, cluster in enumerate(clusters) if len(cluster) >= min_cluster_length]
        clusters = [clusters[i] for i in keep]
        cluster_masses, p_values = cluster_masses[keep], p_values[keep]
    return ClusterTestResult(t_values, threshold, clusters, cluster_masses, p_values, null, exact, tail)


def paired_cluster_test(a, b, *, tail: str = "two-sided", **options) -> ClusterTestResult:
    """Cluster permutation test of ``a - b`` (paired, e.g. ReAlnet vs CORnet similarity per subject).

    a, b: ``(n_subjects, n_times)``; options as :func:`cluster_permutation_test` (``undefined='nan'`` admits NaN).
    """
    finite = options.get("undefined", "raise") == "raise"
    a = as_float_array(a, "a", 2, "(n_subjects, n_times)", finite=finite)
    b = as_float_array(b, "b", 2, "(n_subjects, n_times)", finite=finite)
    if a.shape != b.shape:
        raise ValueError(f"a has shape {a.shape} but b has {b.shape}; a paired test needs equal shapes")
    return cluster_permutation_test(a.astype(np.float64) - b, tail=tail, **options)


@dataclass(frozen=True)
class BootstrapResult:
    """Bootstrap of the subject-mean similarity between EEG and model RDMs.

    estimate ``(n_models, n_times)`` (on the original data); samples ``(n_bootstrap, n_models, n_times)`` (NaN where
    a resample leaves a constant RDM); lower / upper ``(n_models, n_times)``: percentile interval at ``confidence``
    over the defined samples; n_defined ``(n_models, n_times)``: how many samples the interval rests on (fewer than
    ``n_bootstrap`` only when resamples were undefined, which :func:`bootstrap_similarity` warns about).
    """

    estimate: np.ndarray
    samples: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    confidence: float
    n_defined: np.ndarray | None = None


def _pair_weights(counts: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    return (counts[rows] * counts[cols]).astype(np.float64)


def resampled_similarity(eeg: np.ndarray, set_of_rdm: np.ndarray, model_sets: np.ndarray, weights: np.ndarray,
                         method: str) -> np.ndarray:
    """Similarity on explicitly repeated pairs (pair p repeated ``weights[p]`` times): ``(n_rdms, n_models)``.

    The definition the weighted kernels implement (a second path for tests; slow for large RDMs).
    eeg ``(n_rdms, n_pairs)``, model_sets ``(n_sets, n_models, n_pairs)``, weights ``(n_pairs,)`` integers.
    """
    repeated = np.repeat(np.arange(eeg.shape[1]), np.asarray(weights, dtype=np.int64))

    def unit(values: np.ndarray) -> np.ndarray:
        values = rank_rdms(values) if method == "spearman" else values
        centred = values - values.mean(axis=-1, keepdims=True)
        norms = np.sqrt((centred**2).sum(axis=-1, keepdims=True))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(norms > 1e-12 * np.sqrt(values.shape[-1]), centred / norms, np.nan)

    result = np.full((eeg.shape[0], model_sets.shape[1]), np.nan)
    for index, models in enumerate(model_sets):
        rows = np.flatnonzero(set_of_rdm == index)
        result[rows] = unit(eeg[rows][:, repeated]) @ unit(models[:, repeated]).T
    return np.clip(result, -1, 1)


def _weighted_spearman(eeg_orders, set_of_rdm, model_orders, weights, n_models, n_threads) -> np.ndarray:
    """Weighted Spearman of every EEG RDM with every model RDM of its set: ``(n_rdms, n_models)``."""
    model_ranks, model_ties = _native.run_weighted_ranks(model_orders, weights, n_threads)
    n_sets = model_orders.shape[0] // n_models
    partner = (model_ranks * weights).reshape(n_sets, n_models, -1).transpose(0, 2, 1)
    cross, eeg_ties = _native.run_weighted_rank_products(eeg_orders, set_of_rdm, weights, partner, n_threads)
    total = weights.sum()
    mean_square = total * ((total + 1) / 2) ** 2
    sum_squares = total * (total + 1) * (2 * total + 1) / 6
    eeg_var = sum_squares - eeg_ties / 12 - mean_square
    model_var = (sum_squares - model_ties / 12 - mean_square).reshape(n_sets, n_models)[set_of_rdm]
    with np.errstate(invalid="ignore", divide="ignore"):
        result = (cross - mean_square) / np.sqrt(eeg_var[:, None] * model_var)
    result[~np.isfinite(result) | (eeg_var[:, None] <= 1e-9 * sum_squares) | (model_var <= 1e-9 * sum_squares)] = np.nan
    return np.clip(result, -1, 1)


def _weighted_pearson(eeg: np.ndarray, set_of_rdm: np.ndarray, models: np.ndarray, weights: np.ndarray) -> np.ndarray:
    total = weights.sum()
    eeg_mean = eeg @ weights / total
    model_mean = models @ weights / total  # (n_sets, n_models)
    eeg_var = (eeg**2) @ weights / total - eeg_mean**2
    model_var = (models**2) @ weights / total - model_mean**2
    cross = np.einsum("rp,smp->rsm", eeg * weights, models)[np.arange(len(eeg)), set_of_rdm] / total
    covariance = cross - eeg_mean[:, None] * model_mean[set_of_rdm]
    with np.errstate(invalid="ignore", divide="ignore"):
        result = covariance / np.sqrt(eeg_var[:, None] * model_var[set_of_rdm])
    result[~np.isfinite(result)] = np.nan
    return np.clip(result, -1, 1)


def bootstrap_similarity(
    eeg_rdms,
    model_rdms,
    *,
    n_bootstrap: int = 1000,
    resample: str = "both",
    method: str = "spearman",
    confidence: float = 0.95,
    seed: int = 0,
    n_threads: int | None = None,
    undefined: str = "raise",
) -> BootstrapResult:
    """Bootstrap confidence intervals of the subject-mean EEG-model similarity per time point.

    eeg_rdms: ``(n_subjects, n_times, n_pairs)``; model_rdms: ``(n_models, n_pairs)`` shared by all subjects or
    ``(n_subjects, n_models, n_pairs)`` one set per subject (e.g. each subject's ReAlnet). eeg_rdms may be a 3-D
    :class:`~benchmarks.rsa.compare.RankedRDMs` prepared for ``method``: the estimate then reuses its ranks and the
    image resamples its kept sort orders (computed once for every model bootstrapped against it); each resample
    still re-ranks every RDM (weighted ranks, O(n_pairs) per RDM), as resampled images change every rank.
    resample: ``'images'``, ``'subjects'`` or ``'both'``; method: ``'spearman'`` or ``'pearson'``.
    undefined: ``'raise'`` (an undefined EEG RDM is an error) or ``'nan'``: an EEG RDM holding NaN or constant
    makes its time point undefined (as the subject mean is): estimate, samples and interval are NaN there; other
    time points are unaffected.
    """
    check_choice(resample, "resample", ("images", "subjects", "both"))
    check_choice(method, "method", ("spearman", "pearson"))
    n_bootstrap = check_positive_int(n_bootstrap, "n_bootstrap")
    confidence = check_probability(confidence, "confidence")
    check_choice(undefined, "undefined", UNDEFINED)
    ranked = eeg_rdms if isinstance(eeg_rdms, RankedRDMs) else None
    if ranked is not None:
        if ranked.method != method:
            raise ValueError(f"eeg_rdms was prepared for method {ranked.method!r} but the bootstrap uses {method!r}; "
                             f"prepare it with RankedRDMs(..., method={method!r})")
        if len(ranked.shape) != 3:
            raise ValueError(f"eeg_rdms must be 3-D (n_subjects, n_times, n_pairs), got a RankedRDMs of shape "
                             f"{ranked.shape}")
        bad_rows = np.asarray(ranked.undefined_rows)  # (n_subjects, n_times)
        if undefined == "raise" and bad_rows.any():
            s, t = (int(i) for i in np.argwhere(bad_rows)[0])
            raise ValueError(f"eeg_rdms[{s}, {t}] is undefined (NaN or constant); it was prepared with "
                             "undefined='nan', so bootstrap with undefined='nan'")
        # ranks / standardised values: the same weighted Spearman / Pearson as the RDMs themselves (RankedRDMs.values)
        eeg = np.where(bad_rows[..., None], 0.0, ranked.values) if bad_rows.any() else ranked.values
    else:
        eeg = as_float_array(eeg_rdms, "eeg_rdms", 3, "(n_subjects, n_times, n_pairs)", finite=undefined == "raise")
        eeg = eeg.astype(np.float64)
        if np.isinf(eeg).any():
            raise ValueError("eeg_rdms holds infinite values; RDM entries must be finite (or NaN where undefined)")
        bad_rows = np.zeros(eeg.shape[:2], dtype=bool)  # (n_subjects, n_times): undefined EEG RDMs
        if undefined == "nan":
            bad_rows = undefined_rows(eeg.reshape(-1, eeg.shape[-1]), method).reshape(eeg.shape[:2])
            eeg = np.where(bad_rows[..., None], 0.0, eeg)  # constant stand-ins; their results are set to NaN
    models = as_float_array(model_rdms, "model_rdms", (2, 3), "(n_models, n_pairs) or (n_subjects, n_models, n_pairs)")
    models = models.astype(np.float64)
    n_subjects, n_times, n_pairs = eeg.shape
    n_images = n_images_of(eeg, "eeg_rdms")
    n_images_of(models, "model_rdms")
    if models.shape[-1] != n_pairs:
        raise ValueError(f"model_rdms has {models.shape[-1]} pairs per RDM but eeg_rdms has {n_pairs}")
    if models.ndim == 3 and models.shape[0] != n_subjects:
        raise ValueError(
            f"model_rdms has {models.shape[0]} subject sets but eeg_rdms has {n_subjects} subjects"
        )
    model_sets = models if models.ndim == 3 else models[None]
    n_models = model_sets.shape[1]
    set_of_rdm = np.repeat(np.arange(n_subjects) if models.ndim == 3 else np.zeros(n_subjects, np.int64), n_times)
    flat_eeg = eeg.reshape(n_subjects * n_times, n_pairs)
    rows, cols = np.triu_indices(n_images, k=1)
    rng = np.random.default_rng(check_seed(seed))

    # per (subject, time, model) similarity on the original images
    per_subject = np.stack(
        [compare(eeg[s] if ranked is None else ranked[s], model_sets[s if models.ndim == 3 else 0], method,
                 undefined=undefined) for s in range(n_subjects)]
    )  # (n_subjects, n_times, n_models)
    per_subject[bad_rows] = np.nan
    estimate = per_subject.mean(axis=0).T

    if method == "spearman" and resample != "subjects":
        eeg_orders = (_native.tie_marked_orders(flat_eeg) if ranked is None
                      else ranked.sort_orders().reshape(n_subjects * n_times, n_pairs))  # kept by a RankedRDMs
        model_orders = _native.tie_marked_orders(model_sets.reshape(-1, n_pairs))

        def similarities(weights: np.ndarray) -> np.ndarray:
            return _weighted_spearman(eeg_orders, set_of_rdm, model_orders, weights, n_models, n_threads)
    else:
        # centred once (Pearson ignores a shift): the weighted moments E[x^2] - E[x]^2 of each resample then do not
        # cancel catastrophically when an RDM's offset dwarfs its spread (an offset of 1e8 lost every digit before)
        centred_eeg = flat_eeg - flat_eeg.mean(axis=1, keepdims=True)
        centred_models = model_sets - model_sets.mean(axis=-1, keepdims=True)

        def similarities(weights: np.ndarray) -> np.ndarray:
            return _weighted_pearson(centred_eeg, set_of_rdm, centred_models, weights)

    samples = np.empty((n_bootstrap, n_models, n_times))
    for b in range(n_bootstrap):
        if resample == "subjects":
            table = per_subject
        else:
            counts = np.bincount(rng.integers(0, n_images, n_images), minlength=n_images)
            table = similarities(_pair_weights(counts, rows, cols)).reshape(n_subjects, n_times, n_models)
            table[bad_rows] = np.nan
        if resample == "images":
            chosen = np.arange(n_subjects)
        else:
            chosen = rng.integers(0, n_subjects, n_subjects)
        samples[b] = table[chosen].mean(axis=0).T
    undefined_times = bad_rows.any(axis=0)
    samples[:, :, undefined_times] = np.nan  # undefined for some subject: undefined for the subject mean
    n_defined = np.isfinite(samples).sum(axis=0)
    dropped = n_defined[:, ~undefined_times] < n_bootstrap
    if dropped.any():
        warnings.warn(
            f"{int(n_bootstrap - n_defined[:, ~undefined_times].min())} of {n_bootstrap} resamples gave an undefined "
            f"similarity (a resampled image set whose RDM is constant, e.g. too few distinct images) at "
            f"{int(dropped.any(axis=0).sum())} time point(s); the intervals there rest on the remaining samples "
            "(BootstrapResult.n_defined)", RuntimeWarning, stacklevel=2)
    tail = (1 - confidence) / 2 * 100
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns (undefined time points) give NaN
        lower = np.nanpercentile(samples, tail, axis=0)
        upper = np.nanpercentile(samples, 100 - tail, axis=0)
    return BootstrapResult(estimate, samples, lower, upper, confidence, n_defined)

