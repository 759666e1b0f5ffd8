"""Brain-Score semantics of rows and time bins in ``RegisteredModel.look_at`` (issue 10, section 1).

Expected values come from the torch network run by hand (torchvision transforms + forward hooks), never from our
extractor.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from brainscore_core.supported_data_standards.brainio.assemblies import NeuroidAssembly
from brainscore_core.supported_data_standards.brainio.stimuli import StimulusSet
from PIL import Image
from torchvision import transforms

from model_registry import ModelSpec, Preprocessing, RegisteredModel, load_model


def _tiny_model() -> RegisteredModel:
    torch.manual_seed(0)
    network = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, stride=4), torch.nn.ReLU(), torch.nn.Flatten()).eval()
    spec = ModelSpec(identifier="test_rows_tiny", builder=lambda pretrained: network, family="test", layers=("2",),
                     region_layer_map={"IT": "2"}, preprocessing=Preprocessing(image_size=32, resize="resize"))
    return RegisteredModel(spec, network=network, cache=False, progress=False)


def _by_hand(network: torch.nn.Module, path, size: int, module: str | None = None) -> list[np.ndarray]:
    """Every call's output of ``module`` (the network output when None) for one image file, flattened."""
    prepare = transforms.Compose([transforms.Resize((size, size)), transforms.ToTensor(),
                                  transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    with Image.open(path) as image:
        pixels = prepare(image.convert("RGB"))[None]
    calls = []
    handle = None
    if module is not None:
        handle = dict(network.named_modules())[module].register_forward_hook(
            lambda _m, _i, output: calls.append(output.detach().clone()))
    with torch.no_grad():
        output = network(pixels)
    if handle is not None:
        handle.remove()
    return [c.flatten().numpy() for c in calls] if module is not None else [output.flatten().numpy()]


def _repeated_trials(image_files) -> StimulusSet:
    a, b = image_files[:2]
    rows = [{"stimulus_id": stem, "repetition": rep, "object_name": name}
            for stem, rep, name in ((a.stem, 0, "A"), (b.stem, 0, "B"), (a.stem, 1, "A"), (b.stem, 1, "B"),
                                    (a.stem, 2, "A"))]
    stimulus_set = StimulusSet(rows)
    stimulus_set.stimulus_paths = {a.stem: a, b.stem: b}
    stimulus_set.identifier = "test-repeated-trials"
    return stimulus_set


def test_repeated_rows_give_one_response_per_row(image_files):
    a, b = image_files[:2]
    model = _tiny_model()
    model.start_recording("IT", [(70, 170)])
    responses = model.look_at(_repeated_trials(image_files), number_of_trials=50)
    assert responses.shape[0] == 5
    assert list(responses["stimulus_id"].values) == [a.stem, b.stem, a.stem, b.stem, a.stem]
    assert list(responses["repetition"].values) == [0, 0, 1, 1, 2]
    assert list(responses["object_name"].values) == ["A", "B", "A", "B", "A"]
    values = responses.values[..., 0]
    expected_a = _by_hand(model.network, a, 32)[0]
    expected_b = _by_hand(model.network, b, 32)[0]
    assert not np.allclose(expected_a, expected_b)
    for row in (0, 2, 4):
        np.testing.assert_allclose(values[row], expected_a, rtol=1e-5, atol=1e-6)
    for row in (1, 3):
        np.testing.assert_allclose(values[row], expected_b, rtol=1e-5, atol=1e-6)


def test_repeated_paths_in_a_list_are_expanded_too(image_files):
    a, b = image_files[:2]
    model = _tiny_model()
    model.start_recording("IT", None)
    responses = model.look_at([a, b, str(a)])
    assert list(responses["stimulus_id"].values) == [a.stem, b.stem, a.stem]
    np.testing.assert_array_equal(responses.values[0], responses.values[2])
    np.testing.assert_allclose(responses.values[1, :, 0], _by_hand(model.network, b, 32)[0], rtol=1e-5, atol=1e-6)


def test_each_time_bin_reads_and_names_its_own_recurrent_step(image_files):
    model = load_model("cornet_s", pretrained=False, cache=False, progress=False)
    bins = [(150, 200), (0, 50), (100, 150), (50, 100)]  # not in time order: steps follow time, not position
    model.start_recording("V4", bins)
    responses = model.look_at(image_files[:1])
    expected_steps = [3, 0, 2, 1]
    layer = responses["layer"]
    assert layer.dims == ("neuroid", "time_bin")
    assert list(layer.values[0]) == [f"V4.output-t{s}" for s in expected_steps]
    assert (layer.values == layer.values[0]).all()
    assert list(responses["time_bin_start"].values) == [150, 0, 100, 50]
    calls = _by_hand(model.network, image_files[0], 224, "V4.output")
    assert len(calls) == 4
    for position, step in enumerate(expected_steps):
        np.testing.assert_allclose(responses.values[0, :, position], calls[step], rtol=1e-4, atol=1e-5)
    # time_bin coordinates stay (start, end) pairs, so Brain-Score's time-bin helpers read them back
    assert [tuple(b) for b in responses["time_bin"].values] == bins
    assert NeuroidAssembly(responses).indexes["time_bin"].names == ["time_bin_start", "time_bin_end"]


def test_one_time_bin_reads_the_block_output_and_squeezes_to_a_neuroid_layer(image_files):
    model = load_model("cornet_s", pretrained=False, cache=False, progress=False)
    model.start_recording("V4", [(70, 170), (70, 170)])  # one distinct bin, twice
    responses = model.look_at(image_files[:1])
    assert list(responses["layer"].values[0]) == ["V4", "V4"]
    final = _by_hand(model.network, image_files[0], 224, "V4.output")[-1]
    np.testing.assert_allclose(responses.values[0, :, 1], final, rtol=1e-4, atol=1e-5)
    single = model.look_at(image_files[:1]).isel(time_bin=[0]).squeeze("time_bin")
    assert NeuroidAssembly(single)["layer"].dims == ("neuroid",)
    assert set(single["layer"].values) == {"V4"}


def test_look_at_refuses_zero_trials(image_files):
    model = _tiny_model()
    model.start_recording("IT", [(70, 170)])
    with pytest.raises(ValueError, match="number_of_trials must be >= 1"):
        model.look_at(image_files[:1], number_of_trials=0)
