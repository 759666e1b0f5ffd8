"""Model-side inputs of the RSA benchmarks (issue 11, section 1): non-finite features name the model and the layer;
ROI benchmarks refuse a non-positive noise ceiling, naming the ROI, before any model runs."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks.model_features import layer_rdms
from benchmarks.roi_rsa import RoiRdms, RoiRsaBenchmark


def test_inf_and_nan_features_name_model_layer_and_counts():
    rng = np.random.default_rng(0)
    good, bad = rng.random((5, 8)), rng.random((5, 2, 4)).astype(np.float32)
    bad[1, 0, 2] = np.inf
    bad[3, 1, 1] = np.nan
    bad[3, 1, 3] = -np.inf
    with pytest.raises(ValueError) as caught:
        layer_rdms({"V4": good, "IT": bad}, ["V4", "IT"], "my_net")
    assert str(caught.value) == ("model my_net layer 'IT': 3 of 40 features are not finite (1 NaN, 2 inf), in 2 of 5 "
                                 "images (first: image 1); expected finite activations (NaN weights? an overflow?)")
    rdms = layer_rdms({"V4": good}, ["V4"], "my_net")  # finite layers: 1 - Pearson, as numpy computes it
    rows, cols = np.triu_indices(5, k=1)
    np.testing.assert_allclose(rdms[0], 1 - np.corrcoef(good)[rows, cols], atol=1e-12)


def test_constant_features_name_model_and_layer():
    with pytest.raises(ValueError, match=r"^model m layer 'a': features of image\(s\) \[2\] are constant"):
        layer_rdms({"a": np.array([[0.0, 1, 2], [3, 1, 2], [5, 5, 5]])}, ["a"], "m")


class Recording:
    identifier, layers = "probe", ("IT",)

    def __init__(self):
        self.calls = 0

    def activations(self, stimuli, layers):
        self.calls += 1
        raise AssertionError("no activations may be extracted")


def test_roi_benchmark_refuses_a_non_positive_ceiling_before_the_model_runs():
    rng = np.random.default_rng(1)
    shared = rng.random(10)  # 5 stimuli
    agree = np.stack([shared + 0.01 * rng.random(10) for _ in range(3)])
    disagree = np.stack([shared, 1 - shared + 0.2 * rng.random(10), rng.random(10)])  # anti-correlated: ceiling < 0
    data = RoiRdms("synthetic", ("sub-1", "sub-2", "sub-3"), {"V1": agree, "V4": disagree}, None, lambda: None)
    benchmark = RoiRsaBenchmark("roi-test", lambda: data, n_bootstrap=0)
    candidate = Recording()
    with pytest.raises(ValueError) as caught:
        benchmark(candidate)
    assert candidate.calls == 0
    message = str(caught.value)
    assert message.startswith("roi-test: the lower noise ceiling of ROI(s) V4 ")
    assert "leave them out with rois" in message
    assert "V1" not in message.split(":")[1]  # the agreeing ROI is fine
    # the same data with the refused ROI left out passes validation; a constant pooled RDM names its ROI
    flat = RoiRdms("synthetic", ("a", "b"), {"V2": np.stack([shared, np.ones(10)])}, None, lambda: None)
    with pytest.raises(ValueError, match=r"^roi-test: the noise ceiling of ROI V2 \(spearman, 2 subjects\) is "
                                         r"undefined: "):
        RoiRsaBenchmark("roi-test", lambda: flat, n_bootstrap=0).validate()
    RoiRsaBenchmark("roi-test", lambda: data, rois=["V1"], n_bootstrap=0).validate()
