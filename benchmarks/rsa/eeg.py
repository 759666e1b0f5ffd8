"""One entry point for time-resolved EEG RDMs, the method named by a string."""
from __future__ import annotations

import inspect

import numpy as np

from benchmarks.rsa._validation import check_choice
from benchmarks.rsa.decoding import lda_decoding_rdms, svm_decoding_rdms
from benchmarks.rsa.rdm import correlation_rdms, crossnobis_rdms, euclidean_rdms

EEG_RDM_METHODS = {
    "correlation": correlation_rdms,
    "euclidean": euclidean_rdms,
    "crossnobis": crossnobis_rdms,
    "decoding-lda": lda_decoding_rdms,
    "decoding-svm": svm_decoding_rdms,
}


def eeg_rdms(data: np.ndarray, method: str, **params) -> np.ndarray:
    """Time-resolved RDMs of one subject.

    data: ``(n_images, n_repetitions, n_channels, n_times)``; method: ``'correlation'``, ``'euclidean'``,
    ``'crossnobis'``, ``'decoding-lda'`` or ``'decoding-svm'``; params go to that method's function
    (:func:`correlation_rdms`, ... :func:`svm_decoding_rdms`). Returns ``(n_times, n_pairs)``.
    """
    check_choice(method, "method", tuple(EEG_RDM_METHODS))
    function = EEG_RDM_METHODS[method]
    accepted = [name for name in inspect.signature(function).parameters if name != "data"]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise TypeError(
            f"method {method!r} does not take {', '.join(unknown)}; it accepts {', '.join(accepted) or 'no options'}"
        )
    return function(data, **params)
