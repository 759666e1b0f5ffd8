"""place_on_screen (issue 14 section 2): images placed on the model's visual field as Brain-Score does, checked
against Brain-Score's own ``place_on_screen`` output and scipy's Spearman, on the real 92-image data."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from brainscore_vision.benchmark_helpers.screen import ImageConverter, place_on_screen
from PIL import Image as PILImage
from scipy.stats import spearmanr

import model_registry
from benchmarks import load_benchmark
from benchmarks.datasets.kriegeskorte2008.data import STIMULUS_DEGREES, load_kriegeskorte2008
from benchmarks.datasets.things_eeg2.synth import generate_things_eeg2
from benchmarks.model_features import ModelRDMs, layer_rdms
from benchmarks.rdm_model import RdmModel
from model_registry.stimuli import Stimuli

LAYERS = ["1", "2"]  # ReLU (8 x 110 x 110) and AdaptiveAvgPool (8 x 4 x 4) of the tiny network below


def _network() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 5, stride=2), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(4))


def _model(visual_degrees: float, network: torch.nn.Module) -> model_registry.RegisteredModel:
    return model_registry.wrap(network, f"tiny_{visual_degrees:g}deg", layers=LAYERS, visual_degrees=visual_degrees,
                               region_layer_map={"IT": "2"}, progress=False)


def _benchmark(root: Path, **options):
    return load_benchmark("kriegeskorte2008-hit-rsa", root=str(root), n_bootstrap=0, layers=LAYERS, **options)


class LookOnly:
    """A Brain-Score BrainModel without ``activations``: recorded through start_recording + look_at only, and
    placing nothing itself (it forwards to a registered model whose screen equals its own)."""

    def __init__(self, inner):
        self.inner, self.identifier = inner, "look_only"

    def visual_degrees(self) -> float:
        return self.inner.visual_degrees()

    def start_recording(self, region, time_bins):
        self.inner.start_recording(region, time_bins)

    def look_at(self, stimuli, number_of_trials=1):
        return self.inner.look_at(stimuli, number_of_trials)


def _independent_similarity(features: dict[str, np.ndarray], subject_rdms: np.ndarray) -> np.ndarray:
    """(layer, subject) Spearman of 1 - Pearson feature RDMs with the subjects' RDMs, by numpy and scipy."""
    rows, cols = np.triu_indices(len(subject_rdms[0]), 1)
    out = []
    for layer in LAYERS:
        values = features[layer].reshape(len(features[layer]), -1)
        rdm = (1 - np.corrcoef(values))[rows, cols]
        out.append([spearmanr(rdm, subject[rows, cols]).statistic for subject in subject_rdms])
    return np.array(out)


def test_place_on_screen_on_kriegeskorte2008_matches_brainscore_placement(kriegeskorte2008_dir, tmp_path):
    network = _network()
    default, placed = _benchmark(kriegeskorte2008_dir), _benchmark(kriegeskorte2008_dir, place_on_screen=True)

    # a model whose visual field equals the images' 2.9 degrees sees them untouched: the default score
    same = _model(STIMULUS_DEGREES, network)
    at_default, at_placed = default(same), placed(same)
    assert float(at_placed) == float(at_default)
    np.testing.assert_array_equal(at_placed.attrs["similarity"].values, at_default.attrs["similarity"].values)
    assert at_default.attrs["place_on_screen"] is False and at_default.attrs["stimulus_degrees"] == 2.9
    assert at_placed.attrs["place_on_screen"] is True and at_placed.attrs["model_visual_degrees"] == 2.9
    assert "model_visual_degrees" not in at_default.attrs

    # an 8-degree model: Brain-Score's own place_on_screen writes the placed images; our extractor reads those files
    # without degrees (so nothing is placed twice), and numpy + scipy give the similarities
    wide = _model(8.0, network)
    data = load_kriegeskorte2008(kriegeskorte2008_dir, download=False, progress=False)
    stimulus_set = data.stimulus_set(tmp_path / "png")
    by_brainscore = place_on_screen(stimulus_set, target_visual_degrees=8.0, source_visual_degrees=STIMULUS_DEGREES)
    files = tuple(Path(by_brainscore.get_stimulus(i)) for i in data.stimulus_ids)
    assert all(f.parent != tmp_path / "png" for f in files)  # Brain-Score wrote new (placed) images
    assembly = wide.activations(Stimuli(tuple(data.stimulus_ids), files), LAYERS)
    features = {layer: assembly.sel(layer=layer).values for layer in LAYERS}
    expected = _independent_similarity(features, data.subject_rdms())
    result = placed(wide)
    np.testing.assert_allclose(result.attrs["similarity"].values[0], expected, atol=1e-10, rtol=0)
    assert result.attrs["model_visual_degrees"] == 8.0 and result.attrs["stimulus_degrees"] == 2.9
    unplaced = default(wide).attrs["similarity"].values[0]
    assert np.abs(unplaced - expected).max() > 1e-3  # placing changed what the model saw

    # a model recorded through look_at only: the StimulusSet is placed by Brain-Score's helper before look_at
    look_only = load_benchmark("kriegeskorte2008-hit-rsa", root=str(kriegeskorte2008_dir), n_bootstrap=0,
                               layers=["IT"], place_on_screen=True)(LookOnly(wide))
    np.testing.assert_allclose(look_only.attrs["similarity"].values[0, 0], expected[1], atol=1e-10, rtol=0)
    assert look_only.attrs["model_visual_degrees"] == 8.0


def test_place_on_screen_refuses_precomputed_rdms_and_models_without_degrees(kriegeskorte2008_dir):
    placed = _benchmark(kriegeskorte2008_dir, place_on_screen=True)
    data = placed.data
    rdm = np.ones((92, 92)) - np.eye(92)
    model = RdmModel.from_arrays({"1": rdm, "2": rdm}, list(data.stimulus_ids))
    with pytest.raises(ValueError, match=r"^kriegeskorte2008-hit-rsa: place_on_screen=True cannot apply to the "
                                         r"precomputed RDMs"):
        placed(model)

    class NoDegrees(LookOnly):
        visual_degrees = None

    with pytest.raises(ValueError, match=r"^model look_only has no visual_degrees\(\); place_on_screen=True needs"):
        load_benchmark("kriegeskorte2008-hit-rsa", root=str(kriegeskorte2008_dir), n_bootstrap=0, layers=["IT"],
                       place_on_screen=True)(NoDegrees(_model(8.0, _network())))


def test_place_on_screen_on_things_eeg_rsa(tmp_path):
    """7-degree images: a 7-degree model scores as by default; a 14-degree model sees each image as the centre half
    of a grey canvas, i.e. exactly the default score of images placed by Brain-Score's placement rule."""
    root = generate_things_eeg2(tmp_path / "things-eeg2", n_subjects=2, n_test_images=6, n_train_concepts=2,
                                n_train_per_concept=2, n_test_repetitions=3, n_train_repetitions=2, image_size=32,
                                progress=False)
    options = {"root": str(root), "n_permutations": 0, "ceiling": False, "window": [0.0, 0.3]}
    network = _network()
    default = load_benchmark("things-eeg-rsa-correlation", **options)
    placed = load_benchmark("things-eeg-rsa-correlation", place_on_screen=True, **options)
    same = _model(7.0, network)
    np.testing.assert_array_equal(placed(same).attrs["similarity"].values, default(same).attrs["similarity"].values)
    wide = _model(14.0, network)
    result = placed(wide)
    assert result.attrs["place_on_screen"] is True and result.attrs["stimulus_degrees"] == 7.0
    assert result.attrs["model_visual_degrees"] == 14.0

    # Brain-Score's own placement rule (ImageConverter.apply_ratio) applied in memory: the JPEG files are not
    # re-encoded (Brain-Score's place_on_screen would write the canvas as a new JPEG), so the scores agree exactly
    converter = ImageConverter(tmp_path / "unused")
    ids = default.stimuli.ids
    images = tuple(converter.apply_ratio(PILImage.open(path).convert("RGB"), 14.0 / 7.0)
                   for path in default.stimuli.sources)
    assert images[0].size == (64, 64)  # 32-pixel images on a canvas twice as wide
    assembly = wide.activations(Stimuli(tuple(ids), images), LAYERS)
    features = {layer: assembly.sel(layer=layer).values for layer in LAYERS}
    by_hand = default.score_rdms(ModelRDMs(layer_rdms(features, LAYERS), tuple(LAYERS), tuple(ids)))
    np.testing.assert_allclose(result.attrs["similarity"].values, by_hand.attrs["similarity"].values, atol=1e-10,
                               rtol=0)
    assert not np.allclose(result.attrs["similarity"].values, default(wide).attrs["similarity"].values, atol=1e-3)
