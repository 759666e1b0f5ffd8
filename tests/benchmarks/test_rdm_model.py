"""RdmModel: validation, reordering by id, refusals; neural RDMs handed out as rsatoolbox RDMs."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import scipy.io
from rsatoolbox.rdm import RDMs
from scipy.spatial.distance import pdist, squareform

from benchmarks import load_benchmark
from benchmarks.rdm_model import RdmModel, neural_rdms


def _square(n: int, seed: int) -> np.ndarray:
    return squareform(pdist(np.random.default_rng(seed).normal(size=(n, 5))))


def test_rdms_for_reorders_by_id_and_accepts_condensed_input():
    ids = [f"s{i}" for i in range(6)]
    matrix = _square(6, 0)
    model = RdmModel.from_arrays({"a": squareform(matrix)}, ids)  # condensed in, square kept
    order = [3, 0, 5, 1, 4, 2]
    got = model.rdms_for([ids[i] for i in order], ["a"])
    expected = squareform(matrix[np.ix_(order, order)])  # scipy's own condensed order of the reordered matrix
    np.testing.assert_array_equal(got[0], expected)
    assert model.layers == ("a",) and model.identifier.startswith("rdms:")
    assert model.provenance["content_sha256"] == model.content_hash()


def test_refusals_name_the_problem():
    ids = [f"s{i}" for i in range(5)]
    matrix = _square(5, 1)
    with pytest.raises(ValueError, match=r"layer 'a': RDM of shape \(5, 5\); expected \(4, 4\) for 4 stimulus ids"):
        RdmModel.from_arrays({"a": matrix}, ids[:4])
    skewed = matrix.copy()
    skewed[0, 1] += 0.5
    with pytest.raises(ValueError, match="layer 'a': the RDM is not symmetric"):
        RdmModel.from_arrays({"a": skewed}, ids)
    diagonal = matrix + np.eye(5)
    with pytest.raises(ValueError, match="diagonal is not zero"):
        RdmModel.from_arrays({"a": diagonal}, ids)
    with pytest.raises(ValueError, match=r"stimulus ids must be unique; repeated: \['s0'\]"):
        RdmModel.from_arrays({"a": matrix}, ["s0"] + ids[:4])
    nan = matrix.copy()
    nan[1, 2] = nan[2, 1] = np.nan
    with pytest.raises(ValueError, match="2 entries are not finite"):
        RdmModel.from_arrays({"a": nan}, ids)
    model = RdmModel.from_arrays({"a": matrix}, ids)
    with pytest.raises(ValueError, match=r"has no RDM 'b'; it has \['a'\]"):
        model.rdms_for(ids, ["b"])
    with pytest.raises(ValueError, match=r"1 ids are not bench's \(first: \['s4'\]"):
        model.rdms_for(ids[:4], benchmark="bench")
    dropped = RdmModel.from_arrays({"a": matrix}, ids, extra_ids="drop").rdms_for(ids[:4])
    np.testing.assert_array_equal(dropped[0], squareform(matrix[:4, :4]))


def test_from_rsatoolbox_needs_its_descriptors():
    ids = [f"s{i}" for i in range(5)]
    two = RDMs(np.stack([squareform(_square(5, 2)), squareform(_square(5, 3))]),
               pattern_descriptors={"image": ids})
    with pytest.raises(ValueError, match=r"no pattern descriptor 'stimulus_id' .*found: \['image', 'index'\]"):
        RdmModel.from_rsatoolbox(two)
    with pytest.raises(ValueError, match="hold 2 RDMs but no rdm descriptor 'layer'"):
        RdmModel.from_rsatoolbox(two, pattern_descriptor="image")
    model = RdmModel.from_rsatoolbox(two, pattern_descriptor="image", rdm_descriptor="index")
    assert model.layers == ("0", "1")
    np.testing.assert_allclose(model.rdms_for(ids)[1], squareform(_square(5, 3)))


def test_neural_rdms_of_the_92_image_benchmark_as_rsatoolbox(tmp_path, kriegeskorte2008_dir, monkeypatch):
    source = kriegeskorte2008_dir
    shutil.copytree(source, tmp_path / "data" / "kriegeskorte2008")
    monkeypatch.setenv("REALNET_DATA_DIR", str(tmp_path / "data"))
    benchmark = load_benchmark("kriegeskorte2008-hit-rsa", n_bootstrap=0)
    rdms = neural_rdms(benchmark)
    assert rdms.n_rdm == 4 and rdms.n_cond == 92
    assert rdms.rdm_descriptors["roi"] == ["hIT"] * 4
    assert rdms.rdm_descriptors["subject"] == ["BE", "KO", "SN", "TI"]
    assert rdms.pattern_descriptors["stimulus_id"][0] == "k92_000_human_body"
    # independently: the .mat file's RDMs, sessions averaged per subject (struct RDMs is 1 x 4 subjects x 2 sessions)
    mat = scipy.io.loadmat(source / "92_brainRDMs.mat")["RDMs"]
    for s in range(4):
        mean = (mat[0, s, 0]["RDM"].astype(np.float64) + mat[0, s, 1]["RDM"].astype(np.float64)) / 2
        np.testing.assert_allclose(rdms.dissimilarities[s], squareform(mean, checks=False), rtol=0, atol=1e-6)
    # and back: the neural RDMs of one subject scored as a model reach that subject's similarity 1
    one = RdmModel.from_rsatoolbox(rdms.subset("subject", "BE"), rdm_descriptor="subject")
    result = benchmark(one)
    assert float(result.attrs["similarity"].sel(subject="BE").values[0, 0]) == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(TypeError, match="knows ROI RSA and THINGS-EEG RSA benchmarks"):
        neural_rdms(object())
