"""Visual degrees and ``place_on_screen`` as Brain-Score does them (issue 14 section 2), and the model fingerprint
that keys results by what a model computes (issue 15).

Expected pixels come from Brain-Score's own ``benchmark_helpers.screen.place_on_screen`` run on the same PNG files
(and from a hand-made canvas); expected responses from a model that looks at Brain-Score's converted files.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from brainscore_core.supported_data_standards.brainio.stimuli import StimulusSet
from PIL import Image

from model_registry import ModelSpec, Preprocessing, RegisteredModel
from model_registry.extractor import ActivationsExtractor
from model_registry.stimuli import Stimuli, as_stimuli, place_image
from model_registry.storage.activation_cache import ActivationCache

MODEL_DEGREES = 8.0


def _png_files(folder, sizes=((40, 30), (33, 33), (50, 24))) -> list:
    rng = np.random.default_rng(5)
    paths = []
    for i, (width, height) in enumerate(sizes):
        path = folder / f"img{i}.png"
        Image.fromarray(rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def _stimulus_set(paths, degrees) -> StimulusSet:
    stimulus_set = StimulusSet([{"stimulus_id": p.stem, "degrees": d} for p, d in zip(paths, degrees)])
    stimulus_set.stimulus_paths = {p.stem: p for p in paths}
    stimulus_set.identifier = "test-screen"
    return stimulus_set


@pytest.fixture
def brainscore_screen(tmp_path, monkeypatch):
    """Brain-Score's ``place_on_screen``, writing its converted files under ``tmp_path`` (no result cache)."""
    from brainscore_vision.benchmark_helpers import screen

    monkeypatch.setenv("RESULTCACHING_DISABLE", "1")
    monkeypatch.setattr(screen, "root_path", tmp_path / "brainscore-screen")
    return screen.place_on_screen


def _tiny_model(degrees: float = MODEL_DEGREES, **changes) -> RegisteredModel:
    torch.manual_seed(0)
    network = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, stride=2), torch.nn.ReLU(), torch.nn.Flatten()).eval()
    spec = ModelSpec(identifier="test_screen_tiny", builder=lambda pretrained: network, family="test", layers=("2",),
                     region_layer_map={"IT": "2"}, preprocessing=Preprocessing(image_size=24, resize="resize"),
                     visual_degrees=degrees)
    return RegisteredModel(dataclasses.replace(spec, **changes), network=network, cache=False, progress=False)


def test_placed_pixels_equal_brainscores_place_on_screen(tmp_path, brainscore_screen):
    paths = _png_files(tmp_path)
    degrees = [4.0, 12.0, 5.5]  # smaller (grey canvas), larger (centre crop), odd ratio (rounding)
    theirs = brainscore_screen(_stimulus_set(paths, degrees), target_visual_degrees=MODEL_DEGREES)
    ours = as_stimuli(_stimulus_set(paths, degrees)).on_screen(MODEL_DEGREES)
    assert ours.degrees == tuple(degrees) and ours.screen_degrees == MODEL_DEGREES
    for index, path in enumerate(paths):
        with Image.open(theirs.get_stimulus(path.stem)) as converted:
            expected = np.asarray(converted.convert("RGB"))
        found = np.asarray(ours.image(index))
        assert found.shape == expected.shape and np.array_equal(found, expected), path.name


def test_a_smaller_stimulus_sits_on_a_grey_canvas_by_hand():
    image = Image.new("RGB", (10, 6), (255, 0, 0))
    placed = np.asarray(place_image(image, 4.0, 8.0))  # ratio 2: canvas 20 x 12, image at (5, 3)
    assert placed.shape == (12, 20, 3)
    expected = np.full((12, 20, 3), 128, dtype=np.uint8)
    expected[3:9, 5:15] = (255, 0, 0)
    assert np.array_equal(placed, expected)
    cropped = np.asarray(place_image(Image.fromarray(np.arange(100, dtype=np.uint8).reshape(10, 10)).convert("RGB"),
                                     10.0, 5.0))
    assert np.array_equal(cropped[..., 0], np.arange(100).reshape(10, 10)[2:7, 2:7])  # centre 5 x 5


def test_equal_degrees_leave_the_images_and_their_hash_unchanged(tmp_path, brainscore_screen):
    paths = _png_files(tmp_path)
    stimulus_set = _stimulus_set(paths, [MODEL_DEGREES] * len(paths))
    assert brainscore_screen(stimulus_set, target_visual_degrees=MODEL_DEGREES) is stimulus_set  # Brain-Score too
    placed = as_stimuli(stimulus_set).on_screen(MODEL_DEGREES)
    plain = as_stimuli([str(p) for p in paths])
    for index, path in enumerate(paths):
        with Image.open(path) as original:
            assert np.array_equal(np.asarray(placed.image(index)), np.asarray(original.convert("RGB")))
    assert placed.content_hash() == plain.content_hash()  # the activation cache entry is shared
    assert as_stimuli(_stimulus_set(paths, [4.0] * 3)).on_screen(MODEL_DEGREES).content_hash() != plain.content_hash()


def test_look_at_places_a_stimulus_set_with_degrees_as_brainscore_would(tmp_path, brainscore_screen):
    paths = _png_files(tmp_path)
    degrees = [4.0, 12.0, 8.0]
    model = _tiny_model()
    model.start_recording("IT", [(70, 170)])
    ours = model.look_at(_stimulus_set(paths, degrees))
    # Brain-Score's benchmark flow: place_on_screen to the model's degrees, then look_at (degrees now equal: as is)
    converted = brainscore_screen(_stimulus_set(paths, degrees), target_visual_degrees=model.visual_degrees())
    theirs = model.look_at(converted)
    assert np.array_equal(ours.values, theirs.values)
    unplaced = model.look_at(_stimulus_set(paths, [MODEL_DEGREES] * 3))
    assert not np.allclose(ours.values[:2], unplaced.values[:2])  # the 4 and 12 degree images did change
    assert np.array_equal(ours.values[2], unplaced.values[2])  # the 8 degree image did not
    # a model with another field of view sees other pixels for the same set
    wide = _tiny_model(degrees=16.0)
    wide.start_recording("IT", [(70, 170)])
    assert not np.allclose(wide.look_at(_stimulus_set(paths, [MODEL_DEGREES] * 3)).values, unplaced.values)


def test_activations_of_stimuli_with_degrees_are_placed(tmp_path):
    paths = _png_files(tmp_path)
    model = _tiny_model()
    placed = model.activations(Stimuli(tuple(p.stem for p in paths), tuple(paths), degrees=4.0))
    by_hand = model.activations(Stimuli(tuple(p.stem for p in paths),
                                        tuple(place_image(Image.open(p).convert("RGB"), 4.0, 8.0) for p in paths)))
    assert np.array_equal(placed.values, by_hand.values)


def test_bad_degrees_are_refused_in_one_line(tmp_path):
    paths = _png_files(tmp_path)
    with pytest.raises(ValueError, match="2 visual-degree values for 3 stimuli"):
        Stimuli(tuple(p.stem for p in paths), tuple(paths), degrees=(4.0, 5.0))
    with pytest.raises(ValueError, match=r"visual degrees must be positive numbers, got \[0.0\]"):
        Stimuli(tuple(p.stem for p in paths), tuple(paths), degrees=(4.0, 0.0, 5.0))
    with pytest.raises(ValueError, match="screen_degrees needs the stimuli's own degrees"):
        Stimuli(tuple(p.stem for p in paths), tuple(paths), screen_degrees=8.0)


def test_the_fingerprint_changes_with_everything_the_model_computes():
    base = _tiny_model()
    assert base.fingerprint() == _tiny_model().fingerprint()  # same definition, a network built again
    changes = {
        "preprocessing": {"preprocessing": Preprocessing(image_size=32, resize="resize")},
        "normalisation": {"preprocessing": Preprocessing(image_size=24, resize="resize", mean=(0.5, 0.5, 0.5))},
        "layers": {"layers": ("0", "2")},
        "region map": {"region_layer_map": {"IT": "0"}},
        "layouts": {"layer_layouts": {"2": "NC"}},
        "degrees": {"visual_degrees": 10.0},
        "recurrent steps": {"recurrent_steps": {"0": 2}},
        "subject": {"subject": 3},
        "generation module": {"generation_module": {"modality": "fmri"}},
        "logits": {"logits_layer": "2"},
    }
    seen = {base.fingerprint()}
    for name, change in changes.items():
        other = _tiny_model(**change)
        assert other.fingerprint() not in seen, name
        seen.add(other.fingerprint())
    retrained = _tiny_model()
    with torch.no_grad():
        retrained.network[0].bias.add_(1.0)
    assert retrained.fingerprint() not in seen


def test_the_activation_cache_key_holds_the_preprocessing(tmp_path):
    """Same weights, other preprocessing -> another cache entry (counted on disk) and other numbers."""
    paths = _png_files(tmp_path)
    torch.manual_seed(0)
    network = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, stride=2), torch.nn.Flatten()).eval()
    cache = tmp_path / "cache"

    def entries() -> int:
        return sum(1 for shard in ActivationCache(cache).root.iterdir() if shard.is_dir()
                   for entry in shard.iterdir() if entry.is_dir() and not entry.name.startswith("."))

    first = ActivationsExtractor(network, Preprocessing(image_size=24), cache=cache, progress=False)(paths, ["1"])
    assert entries() == 1
    ActivationsExtractor(network, Preprocessing(image_size=24), cache=cache, progress=False)(paths, ["1"])
    assert entries() == 1  # same everything: served from the entry
    other = ActivationsExtractor(network, Preprocessing(image_size=24, mean=(0.5, 0.5, 0.5)), cache=cache,
                                 progress=False)(paths, ["1"])
    assert entries() == 2 and not np.allclose(first.values, other.values)
