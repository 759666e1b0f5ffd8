"""Issue 16: aligned backbones and ReAlnet-fMRI score like every other model.

- The family score of backbone ids (``realnet_torchvision-resnet18_s*_b100``) over 2 generated subjects: one row per
  model, each row its own subject's; the second path is each model scored alone with its own subject.
- A trained ``realnet-fmri_s01_b100`` (generated THINGS-fMRI) scores on things-fmri-roi and things-eeg-rsa; the
  second path is the same network wrapped by :func:`model_registry.wrap` with the same layers and preprocessing.

Tiny everything: random-initialisation ResNet-18 / CORnet-S, 32 px images, one short epoch.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from benchmarks.datasets.fmri_common import write_feature_image
from benchmarks.datasets.things_eeg2.synth import generate_things_eeg2
from benchmarks.datasets.things_fmri.synth import write_synthetic_things_fmri
from benchmarks.things_eeg_rsa.benchmark import model_subject
from model_registry import wrap
from model_registry.registry import build_network, get_spec
from realnet_plugin import score
from realnet_plugin.training import TrainConfig, build_teacher, load_eeg_targets, train
from realnet_plugin.training.fmri import load_fmri_targets

BACKBONE = "torchvision:resnet18"
FAMILY = "realnet_torchvision-resnet18_s*_b100"
EEG_OPTIONS = dict(n_permutations=0, ceiling=False, window=[-0.1, 0.49], layers=["layer3", "layer4"])


@pytest.fixture(scope="module")
def eeg2(tmp_path_factory):
    """2 generated THINGS-EEG2 subjects: 3 training concepts x 4 images, 8 test images x 5 repetitions, 32 px."""
    return generate_things_eeg2(tmp_path_factory.mktemp("align-eeg") / "things-eeg2", n_subjects=2, n_test_images=8,
                                n_train_concepts=3, n_train_per_concept=4, n_test_repetitions=5,
                                n_train_repetitions=2, image_size=32, progress=False)


@pytest.fixture(scope="module")
def fmri2(tmp_path_factory):
    """3 generated THINGS-fMRI subjects (the loader reads all 3; 12 test images), training images written too."""
    root = tmp_path_factory.mktemp("align-fmri") / "things-fmri"
    write_synthetic_things_fmri(root, n_subjects=3, n_concepts=4, images_per_concept=3, n_repetitions=3,
                                train_per_session=8)
    rng = np.random.default_rng(5)
    for subject in ("01", "02", "03"):
        trials = pd.read_csv(root / "betas_csv" / f"sub-{subject}_StimulusMetadata.csv")
        for _, row in trials[trials.trial_type == "train"].drop_duplicates("stimulus").iterrows():
            path = root / "images" / row.concept / row.stimulus
            if not path.exists():
                write_feature_image(path, rng.normal(size=8), 32)
    return root


def _train_resnet(subject: int, root, tmp_path) -> None:
    teacher, about = build_teacher("random", seed=0, backbone=BACKBONE)
    config = TrainConfig(subject=subject, beta=100.0, epochs=1, batch_size=6, lr=1e-3, image_size=32,
                         val_fraction=0.0, backbone=BACKBONE, seed=2023 + subject)
    train(config, load_eeg_targets(subject, root), teacher, tmp_path / f"run{subject}", progress=False,
          teacher_description=about)


@pytest.mark.parametrize("benchmark", ["things-eeg-rsa-correlation", "things-eeg-rsa"])
def test_family_of_backbone_ids_scores_each_model_against_its_own_subject(eeg2, tmp_path, benchmark):
    for subject in (1, 2):
        _train_resnet(subject, eeg2, tmp_path)
    options = dict(root=str(eeg2), **EEG_OPTIONS)
    if benchmark == "things-eeg-rsa":  # pairwise SVM decoding: 5 repetitions hold 5 single-trial pseudo-trials
        options["method_params"] = {"navg": 1, "n_repeats": 1}
    family = score(FAMILY, benchmark, **options)
    similarity = family.attrs["similarity"]
    assert family.attrs["family"] is True
    assert family.attrs["subject_models"] == ["realnet_torchvision-resnet18_s01_b100",
                                              "realnet_torchvision-resnet18_s02_b100"]
    assert similarity.sizes["subject"] == 2 and similarity["subject"].values.tolist() == [1, 2]
    assert list(similarity["layer"].values) == ["layer3", "layer4"]
    for subject in (1, 2):
        model = f"realnet_torchvision-resnet18_s{subject:02d}_b100"
        alone = score(model, benchmark, **options)  # match_subject: its own subject only
        assert alone.attrs["subjects"] == [subject]
        expected = alone.attrs["similarity"].sel(subject=subject).values
        assert np.isfinite(expected).all()
        np.testing.assert_allclose(similarity.sel(subject=subject).values, expected, atol=1e-12)
    # the two models differ (different seeds), so a row taken from the wrong model would show
    swapped = score("realnet_torchvision-resnet18_s01_b100", benchmark, match_subject=False, **options)
    assert not np.allclose(swapped.attrs["similarity"].sel(subject=2).values, similarity.sel(subject=2).values)


def test_realnet_fmri_scores_on_things_fmri_roi_and_things_eeg_rsa_as_its_wrapped_network(fmri2, eeg2, tmp_path):
    targets = load_fmri_targets(1, fmri2, ("V1", "V2", "V3", "hV4", "LOC"), dim=8)
    teacher, about = build_teacher("random", seed=0)
    config = TrainConfig(subject=1, beta=100.0, epochs=1, batch_size=6, lr=1e-4, image_size=32, val_fraction=0.0,
                         modality="fmri")
    result = train(config, targets, teacher, tmp_path / "run", progress=False, teacher_description=about)
    identifier = "realnet-fmri_s01_b100"
    assert result.registered.name == identifier
    spec = get_spec(identifier)
    assert spec.subject == 1 and spec.generation_module["modality"] == "fmri"
    layers = ["V4", "IT"]
    # the independent path: the registered backbone, wrapped as a plain module with the same layers
    wrapped = wrap(build_network(identifier), "wrapped-realnet-fmri", layers=layers,
                   preprocessing=spec.preprocessing, cache=False)

    fmri_options = dict(root=str(fmri2), layers=layers, n_bootstrap=0)
    by_id = score(identifier, "things-fmri-roi", **fmri_options)
    by_wrap = score(wrapped, "things-fmri-roi", **fmri_options)
    table = by_id.attrs["similarity"]  # (roi, layer, subject)
    assert list(table["layer"].values) == layers and table.sizes["subject"] == 3 and table.sizes["roi"] >= 2
    assert np.isfinite(table.values).all()
    np.testing.assert_allclose(table.values, by_wrap.attrs["similarity"].values, atol=1e-12)
    np.testing.assert_allclose(float(by_id), float(by_wrap), atol=1e-12)

    eeg_options = dict(root=str(eeg2), **{**EEG_OPTIONS, "layers": layers})
    eeg_by_id = score(identifier, "things-eeg-rsa-correlation", **eeg_options)
    # its subject 1 is a THINGS-fMRI participant, not THINGS-EEG2's sub-01: it meets every EEG subject
    assert eeg_by_id.attrs["subjects"] == [1, 2]
    assert model_subject(SimpleNamespace(spec=spec, identifier=identifier)) is None
    eeg_by_wrap = score(wrapped, "things-eeg-rsa-correlation", **eeg_options)
    similarity = np.asarray(eeg_by_id.attrs["similarity"])
    assert similarity.shape[0] == 2 and np.isfinite(similarity).all()
    np.testing.assert_allclose(similarity, np.asarray(eeg_by_wrap.attrs["similarity"]), atol=1e-12)
    # nor does it join an EEG family as the model of EEG subject 1
    with pytest.raises(ValueError, match=r"records no training subject|no model of .* has a subject"):
        with pytest.warns(UserWarning):
            score("realnet-fmri_s*_b100", "things-eeg-rsa-correlation", **eeg_options)
