"""Conversion of condensed RDM arrays to rsatoolbox ``RDMs`` objects (at the edge; the metrics work on arrays)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from benchmarks.rsa._validation import n_images_from_pairs
from benchmarks.rsa.rdm import check_rdms


def to_rsatoolbox(
    rdms,
    *,
    measure: str = "dissimilarity",
    rdm_descriptors: Mapping[str, Sequence] | None = None,
    pattern_descriptors: Mapping[str, Sequence] | None = None,
):
    """rsatoolbox ``RDMs`` holding ``rdms`` ``(n_rdms, n_pairs)`` (or one ``(n_pairs,)``).

    rdm_descriptors: per-RDM labels (each of length n_rdms, e.g. ``{'time': times}``); pattern_descriptors: per-image
    labels (each of length n_images, e.g. ``{'image': names}``).
    """
    from rsatoolbox.rdm import RDMs

    vectors = check_rdms(np.atleast_2d(np.asarray(rdms)))
    n_images = n_images_from_pairs(vectors.shape[1], "rdms")
    for name, values in (rdm_descriptors or {}).items():
        if len(values) != vectors.shape[0]:
            raise ValueError(f"rdm descriptor {name!r} has {len(values)} values for {vectors.shape[0]} RDMs")
    for name, values in (pattern_descriptors or {}).items():
        if len(values) != n_images:
            raise ValueError(f"pattern descriptor {name!r} has {len(values)} values for {n_images} images")
    return RDMs(
        dissimilarities=vectors,
        dissimilarity_measure=measure,
        rdm_descriptors={k: list(v) for k, v in (rdm_descriptors or {}).items()},
        pattern_descriptors={k: list(v) for k, v in (pattern_descriptors or {}).items()},
    )
