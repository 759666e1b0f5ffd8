"""The ReAlnet paper's summary numbers: similarity improvement and improvement ratio of model A over model B."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmarks.rsa._validation import as_float_array
from benchmarks.rsa.stats import ClusterTestResult, paired_cluster_test


def _pair(r_a, r_b) -> tuple[np.ndarray, np.ndarray]:
    a = as_float_array(r_a, "r_a", (0, 1, 2, 3), "(...)").astype(np.float64)
    b = as_float_array(r_b, "r_b", (0, 1, 2, 3), "(...)").astype(np.float64)
    if a.shape != b.shape:
        raise ValueError(f"r_a has shape {a.shape} but r_b has {b.shape}; they must match")
    return a, b


def similarity_improvement(r_a, r_b) -> np.ndarray:
    """``r_a - r_b`` elementwise (e.g. ReAlnet minus CORnet similarity per subject and time point)."""
    a, b = _pair(r_a, r_b)
    return a - b


def improvement_ratio(r_a, r_b) -> np.ndarray:
    """``(r_a - r_b) / r_b`` elementwise; NaN where ``r_b == 0`` (the ratio is undefined there)."""
    a, b = _pair(r_a, r_b)
    ratio = np.full(a.shape, np.nan)
    np.divide(a - b, b, out=ratio, where=b != 0)
    return ratio


@dataclass(frozen=True)
class ModelImprovement:
    """Model A vs model B over time: improvement = mean over subjects of r_a - r_b ``(n_times,)``;
    ratio = improvement / mean over subjects of r_b ``(n_times,)`` (NaN where that mean is 0); test: paired
    cluster permutation test of r_a - r_b."""

    improvement: np.ndarray
    ratio: np.ndarray
    test: ClusterTestResult

    def significant_mask(self, alpha: float = 0.05) -> np.ndarray:
        """``(n_times,)`` bool: time points in a cluster where A and B differ at p < alpha."""
        return self.test.significant_mask(alpha)


def compare_models_over_time(r_a, r_b, *, tail: str = "two-sided", p_threshold: float = 0.05,
                             n_permutations: int = 1000, seed: int | None = 0,
                             undefined: str = "raise") -> ModelImprovement:
    """Improvement of model A over model B with its clusters.

    r_a, r_b: ``(n_subjects, n_times)`` similarities (e.g. Spearman of each subject's EEG RDMs with each model).
    undefined: ``'raise'`` or ``'nan'``: NaN similarities (undefined EEG time points) give NaN improvement and
    ratio there and take no part in clusters (:func:`cluster_permutation_test`).
    """
    finite = undefined == "raise"
    a = as_float_array(r_a, "r_a", 2, "(n_subjects, n_times)", finite=finite).astype(np.float64)
    b = as_float_array(r_b, "r_b", 2, "(n_subjects, n_times)", finite=finite).astype(np.float64)
    test = paired_cluster_test(a, b, tail=tail, p_threshold=p_threshold, n_permutations=n_permutations, seed=seed,
                               undefined=undefined)
    improvement = (a - b).mean(axis=0)
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    ratio = np.full(mean_a.shape, np.nan)
    defined = np.isfinite(mean_a) & np.isfinite(mean_b) & (mean_b != 0)
    ratio[defined] = (mean_a[defined] - mean_b[defined]) / mean_b[defined]  # as improvement_ratio, NaN elsewhere
    return ModelImprovement(improvement, ratio, test)
