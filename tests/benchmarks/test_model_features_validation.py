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


def test_a_module_run_twice_is_scored_per_step_as_its_explicit_steps(tmp_path):
    """Asking an ROI benchmark for a layer whose module runs twice per image scores each step: the same numbers
    as naming the steps explicitly (a second path through the extractor's step names; was a bare KeyError)."""
    import torch
    from torch import nn

    from benchmarks import load_benchmark
    from benchmarks.datasets.shen2019.synth import write_synthetic_shen2019
    from model_registry import Preprocessing, wrap

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(3, 4, 3, padding=1)
            self.c2 = nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, x):
            return self.c2(torch.relu(self.c2(torch.relu(self.c1(x)))))

    torch.manual_seed(0)
    network = Twice().eval()
    data = write_synthetic_shen2019(tmp_path / "shen", n_subjects=3, n_images=8, n_repetitions=2, seed=7)
    model = wrap(network, layers=["c1", "c2"], preprocessing=Preprocessing(image_size=12), progress=False)
    options = dict(root=str(data.root), rois=["V1", "HVC"], n_bootstrap=0)
    by_module = load_benchmark("shen2019-fmri-roi", layers=["c2"], **options)(model)
    by_step = load_benchmark("shen2019-fmri-roi", layers=["c2-t0", "c2-t1"], **options)(model)
    assert list(by_module.attrs["similarity"].layer.values) == ["c2-t0", "c2-t1"]
    assert float(by_module) == float(by_step)
    np.testing.assert_array_equal(by_module.attrs["similarity"].values, by_step.attrs["similarity"].values)
