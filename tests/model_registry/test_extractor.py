import functools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from model_registry import ActivationsExtractor, Preprocessing, as_stimuli, layer_blocks
from model_registry.storage.activation_cache import ActivationCache

LAYERS = ["layer1", "layer3", "avgpool"]


@pytest.fixture
def resnet():
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None).eval()


def test_extractor_equals_brainscore_pytorch_wrapper(resnet, image_files):
    from brainscore_vision.model_helpers.activations.pytorch import PytorchWrapper, load_preprocess_images

    wrapper = PytorchWrapper(model=resnet, identifier="test-resnet18-random",
                             preprocessing=functools.partial(load_preprocess_images, image_size=224))
    reference = wrapper.get_activations(load_preprocess_images([str(p) for p in image_files], image_size=224),
                                        LAYERS)
    ours = layer_blocks(ActivationsExtractor(resnet, Preprocessing(224, "resize"), cache=False, batch_size=4,
                                             progress=False)(image_files, LAYERS))
    for layer in LAYERS:
        np.testing.assert_allclose(ours[layer], reference[layer].reshape(len(image_files), -1), atol=1e-5, rtol=0)


def test_batches_are_not_padded_and_ids_follow_the_input(resnet, image_files):
    calls = []
    resnet.register_forward_hook(lambda module, inputs, output: calls.append(inputs[0].shape[0]))
    assembly = ActivationsExtractor(resnet, cache=False, batch_size=4, progress=False)(image_files, ["fc"])
    assert calls == [4, 2]
    assert list(assembly["stimulus_id"].values) == [p.stem for p in image_files]
    assert assembly.dims == ("presentation", "neuroid") and assembly.shape == (6, 1000)


def test_second_extraction_comes_from_the_cache(resnet, image_files):
    calls = []
    resnet.register_forward_hook(lambda module, inputs, output: calls.append(len(inputs[0])))
    extractor = ActivationsExtractor(resnet, batch_size=6, progress=False)
    first = extractor(image_files, LAYERS)
    assert 6 in calls
    calls.clear()
    second = extractor(image_files, LAYERS)
    assert calls == [1]  # only the check of the entry: its first image runs again, nothing else
    np.testing.assert_array_equal(first.values, second.values)


def test_changed_weights_change_the_cache_key(resnet, image_files):
    extractor = ActivationsExtractor(resnet, batch_size=6, progress=False)
    before = extractor(image_files[:2], ["fc"]).values.copy()
    with torch.no_grad():
        resnet.fc.bias.add_(1.0)
    after = extractor(image_files[:2], ["fc"]).values
    np.testing.assert_allclose(after, before + 1.0, atol=1e-5)
    entries = list(ActivationCache().root.glob("*/*/meta.json"))
    assert len(entries) == 2


def test_changed_stimulus_content_changes_the_cache_key(resnet, image_files):
    extractor = ActivationsExtractor(resnet, batch_size=6, progress=False)
    before = extractor(image_files[:2], ["fc"]).values.copy()
    from PIL import Image

    Image.new("RGB", (40, 40), (255, 0, 0)).save(image_files[0])  # same path, new pixels
    after = extractor(image_files[:2], ["fc"]).values
    assert not np.allclose(before[0], after[0])
    np.testing.assert_allclose(before[1], after[1], atol=1e-6)


def test_truncated_cache_file_is_detected_and_recomputed(resnet, image_files):
    extractor = ActivationsExtractor(resnet, batch_size=6, progress=False)
    expected = extractor(image_files, ["layer4"]).values.copy()
    (data_file,) = ActivationCache().root.glob("*/*/data.npy")
    data_file.write_bytes(data_file.read_bytes()[:-1000])
    recomputed = extractor(image_files, ["layer4"])
    np.testing.assert_array_equal(recomputed.values, expected)
    (data_file,) = ActivationCache().root.glob("*/*/data.npy")
    assert np.load(data_file).shape == expected.shape


def test_flipped_bytes_in_cache_are_detected(resnet, image_files):
    extractor = ActivationsExtractor(resnet, batch_size=6, progress=False)
    expected = extractor(image_files, ["fc"]).values.copy()
    (data_file,) = ActivationCache().root.glob("*/*/data.npy")
    raw = bytearray(data_file.read_bytes())
    raw[-17] ^= 0xFF
    data_file.write_bytes(bytes(raw))
    np.testing.assert_array_equal(extractor(image_files, ["fc"]).values, expected)


def test_large_outputs_stream_to_a_memory_map(resnet, image_files):
    extractor = ActivationsExtractor(resnet, batch_size=2, progress=False, stream_threshold_bytes=1024)
    assembly = extractor(image_files, ["layer1"])
    in_memory = ActivationsExtractor(resnet, batch_size=2, progress=False, cache=False)(image_files, ["layer1"])
    assert isinstance(assembly.variable._data, np.memmap) or isinstance(np.asarray(assembly.values).base, np.memmap)
    np.testing.assert_allclose(assembly.values, in_memory.values, atol=1e-6)
    streamed = ActivationsExtractor(resnet, batch_size=2, progress=False, cache=False,
                                    stream_threshold_bytes=1024)(image_files, ["layer1"])
    np.testing.assert_allclose(streamed.values, in_memory.values, atol=1e-6)


def test_unknown_layer_names_close_matches(resnet, image_files):
    with pytest.raises(ValueError, match="close names: layer4"):
        ActivationsExtractor(resnet, cache=False, progress=False)(image_files, ["layer5"])


def test_bad_stimuli_are_named(resnet, tmp_path, image_files):
    missing = tmp_path / "nope.jpg"
    with pytest.raises(FileNotFoundError, match="nope.jpg"):
        ActivationsExtractor(resnet, cache=False, progress=False)([missing], ["fc"])
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match="broken"):
        ActivationsExtractor(resnet, cache=False, progress=False)([broken], ["fc"])
    with pytest.raises(ValueError, match="unique; repeated: \\['a'\\]"):
        as_stimuli(image_files[:2], ids=["a", "a"])
    nan_image = np.full((8, 8, 3), np.nan)
    with pytest.raises(ValueError, match="NaN"):
        ActivationsExtractor(resnet, cache=False, progress=False)(np.stack([nan_image]), ["fc"])


CONCURRENT_SCRIPT = """
import sys, torch, torchvision
from model_registry import ActivationsExtractor
torch.manual_seed(0)
net = torchvision.models.resnet18(weights=None).eval()
paths = sys.argv[1:]
values = ActivationsExtractor(net, batch_size=3, progress=False)(paths, ['layer2', 'fc']).values
print(float(values.sum()))
"""


def test_two_processes_extracting_at_once_leave_one_valid_entry(image_files, realnet_home):
    root = Path(__file__).resolve().parents[2]
    procs = [subprocess.Popen([sys.executable, "-c", CONCURRENT_SCRIPT, *map(str, image_files)], cwd=root,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    sums = [float(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert sums[0] == sums[1]
    entries = [p for p in ActivationCache().root.glob("*/*") if p.is_dir()]
    assert len(entries) == 1 and not entries[0].name.startswith(".")
    meta = json.loads((entries[0] / "meta.json").read_text())
    assert ActivationCache().load(entries[0].name) is not None and meta["shape"][0] == len(image_files)
