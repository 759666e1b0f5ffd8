"""Issue 16 section 2: ReAlnet-fMRI targets from generated THINGS-fMRI data, PCA fitted on training images only.

The expected PCA is computed here with scikit-learn from the response file read directly with h5py; the
training-only claim is proven by rewriting the test trials' betas in the file (PCA and training targets must not
move) and one training trial's betas (they must).
"""
from __future__ import annotations

import shutil

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.decomposition import PCA

from benchmarks.datasets.fmri_common import write_feature_image
from benchmarks.datasets.things_fmri.pandas_hdf import open_frame
from benchmarks.datasets.things_fmri.synth import write_synthetic_things_fmri
from model_registry.registry import build_network
from realnet_plugin.training import TrainConfig, build_teacher, train
from realnet_plugin.training.fmri import load_fmri_targets

ROIS = ("V1", "V2", "V3", "hV4", "LOC")
ROI_COLUMNS = ["V1", "V2", "V3", "hV4", "lLOC", "rLOC"]
DIM = 8


@pytest.fixture(scope="module")
def fmri_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("fmri") / "things-fmri"
    write_synthetic_things_fmri(root, n_subjects=1, n_concepts=4, images_per_concept=3, n_repetitions=3,
                                train_per_session=8)
    trials = pd.read_csv(root / "betas_csv" / "sub-01_StimulusMetadata.csv")
    rng = np.random.default_rng(5)
    for _, row in trials[trials.trial_type == "train"].drop_duplicates("stimulus").iterrows():
        write_feature_image(root / "images" / row.concept / row.stimulus, rng.normal(size=8), 32)
    return root


def _copy(root, tmp_path):
    target = tmp_path / "things-fmri"
    shutil.copytree(root, target)
    return target


def _means_by_hand(root, trial_type: str) -> tuple[list[str], np.ndarray]:
    """(sorted stimulus stems, (n_images, n_roi_voxels) per-image mean betas), read with h5py and pandas."""
    trials = pd.read_csv(root / "betas_csv" / "sub-01_StimulusMetadata.csv")
    voxels = pd.read_csv(root / "betas_csv" / "sub-01_VoxelMetadata.csv")
    rows = np.flatnonzero((voxels[ROI_COLUMNS].to_numpy() == 1).any(axis=1))
    with h5py.File(root / "betas_csv" / "sub-01_ResponseData.h5", "r") as handle:
        frame = open_frame(handle, "responses", "ResponseData")
        labels = [label for label in frame.columns if label != "voxel_id"]
        values, positions = frame.block_holding(labels)
        everything = values[:][:, positions]  # (n_voxels, n_trials) in trial order
    chosen = trials[trials.trial_type == trial_type]
    stems = sorted({name.rsplit(".", 1)[0] for name in chosen.stimulus})
    means = np.stack([everything[rows][:, chosen.index[chosen.stimulus.str.rsplit(".", n=1).str[0] == stem]]
                      .mean(axis=1) for stem in stems])
    return stems, means


def _rewrite_trials(root, trial_numbers, rng) -> None:
    with h5py.File(root / "betas_csv" / "sub-01_ResponseData.h5", "r+") as handle:
        frame = open_frame(handle, "responses", "ResponseData")
        values, positions = frame.block_holding([int(n) for n in trial_numbers])
        array = values[:]
        array[:, positions] = rng.normal(size=(array.shape[0], len(positions))) * 5.0
        values[...] = array


def test_targets_are_the_training_only_pca_zscored(fmri_root):
    targets = load_fmri_targets(1, fmri_root, ROIS, dim=DIM)
    stems, train_means = _means_by_hand(fmri_root, "train")
    test_stems, test_means = _means_by_hand(fmri_root, "test")
    assert list(targets.training.stimulus_ids) == stems and list(targets.test.stimulus_ids) == test_stems
    assert targets.training.targets.shape == (len(stems), DIM) and targets.test.targets.shape == (12, DIM)
    pca = PCA(n_components=DIM, svd_solver="full").fit(train_means)
    ours = targets.target_transform["components"].astype(np.float64)
    np.testing.assert_allclose(np.abs(np.sum(ours * pca.components_, axis=1)), 1.0, atol=1e-4)  # same axes
    signs = np.sign(np.sum(ours * pca.components_, axis=1))
    components = pca.components_ * signs[:, None]
    scores = (train_means - pca.mean_) @ components.T
    mean, std = scores.mean(), scores.std()
    np.testing.assert_allclose(targets.training.targets, (scores - mean) / std, atol=1e-4)
    np.testing.assert_allclose(targets.test.targets, ((test_means - pca.mean_) @ components.T - mean) / std,
                               atol=1e-4)


def test_no_test_image_enters_the_pca(fmri_root, tmp_path):
    before = load_fmri_targets(1, fmri_root, ROIS, dim=DIM)
    trials = pd.read_csv(fmri_root / "betas_csv" / "sub-01_StimulusMetadata.csv")
    changed_test = _copy(fmri_root, tmp_path / "a")
    _rewrite_trials(changed_test, trials.index[trials.trial_type == "test"], np.random.default_rng(1))
    after = load_fmri_targets(1, changed_test, ROIS, dim=DIM)
    for key in ("mean", "components"):
        np.testing.assert_array_equal(after.target_transform[key], before.target_transform[key])
    np.testing.assert_array_equal(after.training.targets, before.training.targets)
    assert after.zscore == before.zscore
    assert not np.allclose(after.test.targets, before.test.targets)
    changed_train = _copy(fmri_root, tmp_path / "b")  # the converse: one training trial moves the PCA
    _rewrite_trials(changed_train, trials.index[trials.trial_type == "train"][:1], np.random.default_rng(2))
    moved = load_fmri_targets(1, changed_train, ROIS, dim=DIM)
    assert not np.allclose(moved.target_transform["mean"], before.target_transform["mean"])


def test_dimension_beyond_the_training_split_is_refused(fmri_root):
    n_train = len(load_fmri_targets(1, fmri_root, ROIS, dim=DIM).training)
    with pytest.raises(ValueError, match=rf"^fMRI target dimension 1024 must lie in 1\.\.{n_train - 1} "):
        load_fmri_targets(1, fmri_root, ROIS)


def test_realnet_fmri_trains_registers_and_keeps_its_pca(fmri_root, tmp_path):
    targets = load_fmri_targets(1, fmri_root, ROIS, dim=DIM)
    teacher, about = build_teacher("random", seed=0)
    config = TrainConfig(subject=1, beta=100.0, epochs=1, batch_size=6, lr=1e-4, image_size=32, val_fraction=0.0,
                         modality="fmri")
    assert config.model_id == "realnet-fmri_s01_b100"
    with pytest.raises(ValueError, match="modality 'eeg' but the targets are fmri"):
        train(TrainConfig(subject=1, image_size=32, batch_size=6), targets, teacher, tmp_path / "x", progress=False)
    result = train(config, targets, teacher, tmp_path / "run", progress=False, teacher_description=about)
    assert result.registered.name == "realnet-fmri_s01_b100"
    stored = torch.load(result.registered / "model.pt", weights_only=True)
    np.testing.assert_array_equal(stored["target_components"].numpy(), targets.target_transform["components"])
    np.testing.assert_array_equal(stored["target_mean"].numpy(), targets.target_transform["mean"])
    assert stored["fc.weight"].shape == (DIM, 512)
    reloaded = build_network("realnet-fmri_s01_b100")
    expected = result.model.realnet.state_dict()
    assert all(torch.equal(reloaded.state_dict()[k], expected[k]) for k in expected)
