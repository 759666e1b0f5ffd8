"""Shared RSA metrics: RDMs, RDM comparison, noise ceilings, cluster statistics, bootstrap CIs and the paper's
improvement numbers. Inputs and outputs are numpy arrays; RDMs are condensed vectors (scipy ``squareform`` order,
``n_pairs = n_images * (n_images - 1) / 2``); EEG data of one subject is ``(n_images, n_repetitions, n_channels,
n_times)``. Functions are pure (no caching, no files).
"""
from benchmarks.rsa.compare import RankedRDMs, compare, compare_rowwise, rank_rdms
from benchmarks.rsa.cross_temporal import cross_temporal_cluster_test, cross_temporal_rsa, cross_temporal_similarity
from benchmarks.rsa.decoding import lda_decoding_rdms, noise_covariances, svm_decoding_rdms
from benchmarks.rsa.decoding_plan import DecodingPlan, draw_plan, smooth_over_time
from benchmarks.rsa.eeg import EEG_RDM_METHODS, eeg_rdms
from benchmarks.rsa.metrics import (
    ModelImprovement,
    compare_models_over_time,
    improvement_ratio,
    similarity_improvement,
)
from benchmarks.rsa.noise_ceiling import noise_ceiling
from benchmarks.rsa.rdm import (
    correlation_rdms,
    crossnobis_rdms,
    euclidean_rdms,
    model_rdm,
    model_rdms,
    pair_indices,
    to_matrix,
)
from benchmarks.rsa.rsatoolbox_io import to_rsatoolbox
from benchmarks.rsa.stats import (
    BootstrapResult,
    ClusterTestResult,
    bootstrap_similarity,
    cluster_permutation_test,
    paired_cluster_test,
)

__all__ = [
    "EEG_RDM_METHODS",
    "BootstrapResult",
    "ClusterTestResult",
    "DecodingPlan",
    "ModelImprovement",
    "RankedRDMs",
    "bootstrap_similarity",
    "cluster_permutation_test",
    "compare",
    "compare_models_over_time",
    "compare_rowwise",
    "correlation_rdms",
    "crossnobis_rdms",
    "cross_temporal_cluster_test",
    "cross_temporal_rsa",
    "cross_temporal_similarity",
    "draw_plan",
    "eeg_rdms",
    "euclidean_rdms",
    "improvement_ratio",
    "lda_decoding_rdms",
    "model_rdm",
    "model_rdms",
    "noise_ceiling",
    "noise_covariances",
    "pair_indices",
    "paired_cluster_test",
    "rank_rdms",
    "similarity_improvement",
    "smooth_over_time",
    "svm_decoding_rdms",
    "to_matrix",
    "to_rsatoolbox",
]
