"""Stimulus ids derived from file paths: stems when unique, folder-qualified where names collide."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from model_registry import ActivationsExtractor, Preprocessing, as_stimuli, layer_blocks


def picture(path: Path, value: int) -> Path:
    """A (16, 16) RGB PNG of one colour, so each file's pixels tell which file was read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((16, 16, 3), value, np.uint8)).save(path)
    return path


def test_unique_names_keep_their_stems(tmp_path):
    files = [picture(tmp_path / "a" / "cat.png", 10), picture(tmp_path / "b" / "dog.png", 20)]
    assert as_stimuli(files).ids == ("cat", "dog")


def test_same_name_in_different_folders_gets_distinct_ids(tmp_path):
    files = [picture(tmp_path / "a" / "cat.png", 10), picture(tmp_path / "b" / "cat.png", 20),
             picture(tmp_path / "b" / "dog.png", 30), picture(tmp_path / "c" / "deep" / "cat.png", 40)]
    stimuli = as_stimuli(files)
    assert stimuli.ids == ("a/cat", "b/cat", "dog", "c/deep/cat")
    for index, value in enumerate([10, 20, 30, 40]):  # each id still names its own file's pixels
        assert np.asarray(stimuli.image(index))[0, 0, 0] == value
    # the ids belong to the files, not to their positions
    assert as_stimuli(files[::-1]).ids == stimuli.ids[::-1]


def test_names_differing_only_in_suffix_keep_the_suffix(tmp_path):
    files = [picture(tmp_path / "set" / "cat.png", 10), picture(tmp_path / "set" / "cat.bmp", 20),
             picture(tmp_path / "other" / "cat.png", 30)]
    # common folder of the three: tmp_path -> set/cat.png, set/cat.bmp collide without suffix, other/cat does not
    assert as_stimuli(files).ids == ("set/cat.png", "set/cat.bmp", "other/cat")
    assert as_stimuli(files[:2]).ids == ("cat.png", "cat.bmp")


def test_relative_and_absolute_spellings_of_one_file_are_one_file(tmp_path, monkeypatch):
    file = picture(tmp_path / "a" / "cat.png", 10)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"stimulus ids must be unique; repeated: \['cat'\]"):
        as_stimuli([file, Path("a/cat.png")])


def test_explicit_ids_win_and_must_match_in_number(tmp_path):
    files = [picture(tmp_path / "a" / "cat.png", 10), picture(tmp_path / "b" / "cat.png", 20)]
    assert as_stimuli(files, ids=["first", "second"]).ids == ("first", "second")
    with pytest.raises(ValueError, match="1 ids for 2 stimuli"):
        as_stimuli(files, ids=["only"])


def test_in_memory_images_are_numbered_and_mix_with_files(tmp_path):
    stimuli = as_stimuli([np.zeros((8, 8, 3), np.uint8), picture(tmp_path / "x" / "cat.png", 10)])
    assert stimuli.ids == ("image_0000", "cat")


def test_extraction_keeps_same_named_files_apart(tmp_path):
    """End to end: two different pictures both called cat.png give two rows, each with its own activations."""
    files = [picture(tmp_path / "a" / "cat.png", 10), picture(tmp_path / "b" / "cat.png", 250)]
    torch.manual_seed(0)
    network = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    assembly = ActivationsExtractor(network, Preprocessing(16), cache=False, progress=False)(files, ["0"])
    assert list(assembly["stimulus_id"].values) == ["a/cat", "b/cat"]
    values = layer_blocks(assembly)["0"]
    with torch.no_grad():
        expected = [network[0](Preprocessing(16)(Image.open(f)).unsqueeze(0)).flatten().numpy() for f in files]
    np.testing.assert_allclose(values, np.stack(expected), rtol=1e-5, atol=1e-6)
