"""Our BrainModel inside Brain-Score's own standard benchmark and behavioural read-outs (issue 14 section 2).

The reference is Brain-Score itself: its ``ModelCommitment`` + ``PytorchWrapper`` over the same network object,
layer and preprocessing, scored by the same ``NeuralBenchmark`` (PLS + internal-consistency ceiling) built exactly as
MajajHong2015 builds it (a squeezed single ``time_bin``), on small local data made here.
"""
from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from brainscore_core.supported_data_standards.brainio.assemblies import NeuroidAssembly
from brainscore_core.supported_data_standards.brainio.stimuli import StimulusSet
from brainscore_vision import load_ceiling, load_metric
from brainscore_vision.benchmark_helpers.neural_common import NeuralBenchmark, average_repetition
from brainscore_vision.model_helpers.activations.pytorch import PytorchWrapper, load_preprocess_images
from brainscore_vision.model_helpers.brain_transformation import ModelCommitment
from brainscore_vision.model_interface import BrainModel
from PIL import Image

from model_registry import ModelSpec, Preprocessing, RegisteredModel

IMAGE_SIZE = 64
OBJECTS = ("dog", "cat", "car", "chair")


@pytest.fixture(autouse=True)
def brainscore_offline(tmp_path, monkeypatch):
    """Brain-Score's result caching off and its home in the test's folder."""
    monkeypatch.setenv("RESULTCACHING_DISABLE", "1")
    monkeypatch.setenv("BRAINSCORE_HOME", str(tmp_path / "brainscore_home"))


def _network() -> torch.nn.Module:
    torch.manual_seed(7)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 5, stride=2), torch.nn.ReLU(), torch.nn.Conv2d(16, 32, 3, stride=2), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(4), torch.nn.Flatten(), torch.nn.Linear(512, 1000)).eval()


def _ours(network: torch.nn.Module, identifier: str = "test_bs_tiny") -> RegisteredModel:
    spec = ModelSpec(identifier=identifier, builder=lambda pretrained: network, family="test", layers=("1", "3", "5"),
                     region_layer_map={"V1": "1", "V4": "3", "IT": "3"}, logits_layer="6",
                     preprocessing=Preprocessing(image_size=IMAGE_SIZE, resize="resize"), visual_degrees=8)
    return RegisteredModel(spec, network=network, cache=False, progress=False)


def _brainscore(network: torch.nn.Module, readout: str = "5") -> ModelCommitment:
    wrapper = PytorchWrapper(model=network, identifier=f"bs-tiny-{id(network)}",
                             preprocessing=functools.partial(load_preprocess_images, image_size=IMAGE_SIZE))
    return ModelCommitment(identifier="bs-tiny", activations_model=wrapper, layers=["1", "3", "5"],
                           behavioral_readout_layer=readout, region_layer_map={"V1": "1", "V4": "3", "IT": "3"},
                           visual_degrees=8)


def _stimulus_set(folder, n_per_object: int = 6, seed: int = 0, prefix: str = "img") -> StimulusSet:
    """Textures whose colour and contrast depend on the object, saved as PNG files."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows, paths = [], {}
    for o, name in enumerate(OBJECTS):
        for i in range(n_per_object):
            base = rng.uniform(40, 215, 3) * (1 + 0.1 * o)
            pixels = np.clip(base + rng.normal(0, 20 + 15 * o, (48, 48, 3)), 0, 255).astype(np.uint8)
            stimulus_id = f"{prefix}_{name}_{i}"
            paths[stimulus_id] = folder / f"{stimulus_id}.png"
            Image.fromarray(pixels).save(paths[stimulus_id])
            rows.append({"stimulus_id": stimulus_id, "object_name": name, "image_label": name,
                         "filename": f"{stimulus_id}.png"})
    stimulus_set = StimulusSet(rows)
    stimulus_set.stimulus_paths = paths
    stimulus_set.identifier = f"test-{prefix}-{seed}"
    return stimulus_set


def _assembly_with_repetitions(stimulus_set: StimulusSet, n_repetitions: int = 8, n_neuroids: int = 20):
    """IT-like responses: a per-object pattern plus mean pixel colour, plus trial noise; MajajHong2015's layout
    (presentation x neuroid x time_bin of one bin) before the squeeze."""
    rng = np.random.default_rng(1)
    colour = np.stack([np.asarray(Image.open(stimulus_set.get_stimulus(i))).reshape(-1, 3).mean(0)
                       for i in stimulus_set["stimulus_id"]]) / 255
    objects = np.array([OBJECTS.index(o) for o in stimulus_set["object_name"]])
    signal = rng.normal(size=(len(OBJECTS), n_neuroids))[objects] + colour @ rng.normal(size=(3, n_neuroids))
    n = len(stimulus_set)
    values = np.concatenate([signal + rng.normal(0, 0.8, signal.shape) for _ in range(n_repetitions)])[..., None]
    assembly = NeuroidAssembly(values, coords={
        "stimulus_id": ("presentation", np.tile(stimulus_set["stimulus_id"].values, n_repetitions)),
        "object_name": ("presentation", np.tile(stimulus_set["object_name"].values, n_repetitions)),
        "repetition": ("presentation", np.repeat(np.arange(n_repetitions), n)),
        "neuroid_id": ("neuroid", [f"n{i}" for i in range(n_neuroids)]),
        "region": ("neuroid", ["IT"] * n_neuroids),
        "time_bin_start": ("time_bin", [70]), "time_bin_end": ("time_bin", [170])},
        dims=["presentation", "neuroid", "time_bin"])
    assembly = assembly.squeeze("time_bin")  # as MajajHong2015's load_assembly does
    assembly.attrs["stimulus_set"] = stimulus_set
    assembly.attrs["stimulus_set_identifier"] = stimulus_set.identifier
    return assembly


def _neural_benchmark(stimulus_set: StimulusSet) -> NeuralBenchmark:
    repetitions = _assembly_with_repetitions(stimulus_set)
    averaged = average_repetition(repetitions)
    averaged.attrs["stimulus_set"] = stimulus_set
    ceiler = load_ceiling("internal_consistency")
    return NeuralBenchmark(identifier="test.IT-pls", version=1, assembly=averaged, visual_degrees=8,
                           similarity_metric=load_metric("pls", crossvalidation_kwargs={
                               "stratification_coord": "object_name"}),
                           number_of_trials=50, ceiling_func=lambda: ceiler(repetitions), parent="IT")


def test_majajhong_style_neural_benchmark_scores_us_as_brainscore_scores_its_own_commitment(tmp_path):
    stimulus_set = _stimulus_set(tmp_path / "images", n_per_object=10)  # 10 % test splits need >= 40 images
    benchmark = _neural_benchmark(stimulus_set)
    assert np.asarray(benchmark.timebins[0]).ndim == 0  # the squeezed 0-d time bin that used to crash us
    network = _network()
    ours = benchmark(_ours(network))
    theirs = benchmark(_brainscore(network))
    assert float(ours.raw) == pytest.approx(float(theirs.raw), abs=1e-4)
    assert float(ours) == pytest.approx(float(theirs), abs=1e-4)
    assert float(ours.ceiling) == pytest.approx(float(theirs.ceiling))
    assert float(theirs.raw) > 0.2  # the comparison is between meaningful scores, not two zeros


def test_squeezed_and_unsqueezed_time_bins_give_the_same_responses(tmp_path):
    stimulus_set = _stimulus_set(tmp_path / "images", n_per_object=1)
    model = _ours(_network())
    squeezed = np.empty((), dtype=object)
    squeezed[()] = (70, 170)
    responses = []
    for bins in ([(70, 170)], [squeezed], squeezed, np.array([[70, 170]]), np.array([70, 170]), None):
        model.start_recording("IT", bins)
        responses.append(model.look_at(stimulus_set))
    for response in responses:
        assert response.dims == ("presentation", "neuroid", "time_bin")
        assert response["time_bin_start"].values.tolist() == [70] and response["time_bin_end"].values.tolist() == [170]
        np.testing.assert_array_equal(response.values, responses[0].values)
    refusal = r"require_variance=True\) asks for responses that vary across trials .* identical trials would be"
    with pytest.raises(NotImplementedError, match=refusal):
        model.look_at(stimulus_set, number_of_trials=5, require_variance=True)  # deterministic: never fake trials
    with pytest.raises(ValueError, match="starts after it ends"):
        model.start_recording("IT", [(170, 70)])
    with pytest.raises(ValueError, match=r"time bin \(1, 2, 3\) is not a \(start, end\) pair"):
        model.start_recording("IT", [(1, 2, 3)])


def test_probabilities_task_matches_brainscore_readout(tmp_path):
    fitting = _stimulus_set(tmp_path / "fit", n_per_object=6, seed=3, prefix="fit")
    test = _stimulus_set(tmp_path / "test", n_per_object=2, seed=4, prefix="test")
    network = _network()
    ours, theirs = _ours(network), _brainscore(network, readout="5")
    assert ours.behavioral_readout_layer == "5"  # the Flatten feeding the Linear logits layer
    ours.start_task(BrainModel.Task.probabilities, fitting)
    theirs.start_task(BrainModel.Task.probabilities, fitting)
    mine, reference = ours.look_at(test), theirs.look_at(test)
    assert mine.dims == ("presentation", "choice") and list(mine["choice"].values) == list(OBJECTS)
    assert list(mine["stimulus_id"].values) == list(test["stimulus_id"].values)
    reference = reference.transpose("presentation", "choice")
    assert list(reference["choice"].values) == list(OBJECTS)
    np.testing.assert_allclose(mine.values, reference.values, atol=1e-4)
    np.testing.assert_allclose(mine.values.sum(axis=1), 1, atol=1e-9)


def test_label_tasks_match_brainscore_label_behaviour(tmp_path):
    stimuli = _stimulus_set(tmp_path / "images", n_per_object=2)
    network = _network()
    with torch.no_grad():  # let classes of the four choices win, image by image (a random head is nearly flat)
        network[6].weight[[281, 282, 283, 436, 511, 817, 423, 559, 765, 857, 152, 153]] *= 40
    ours, theirs = _ours(network), _brainscore(network)
    choices = ["cat", "car", "chair", "dog"]
    for labels, aggregation in (("imagenet", "mean"), (choices, "mean"), (choices, "max")):
        ours.start_task(BrainModel.Task.label, labels, aggregation=aggregation)
        theirs.start_task(BrainModel.Task.label, labels, aggregation=aggregation)
        mine, reference = ours.look_at(stimuli), theirs.look_at(stimuli)
        assert mine.dims == reference.dims == ("choice", "presentation")
        mine_by_id = dict(zip(mine["stimulus_id"].values, mine.values[0]))
        reference_by_id = dict(zip(reference["stimulus_id"].values, reference.values[0]))
        assert mine_by_id == reference_by_id
        assert list(mine["stimulus_id"].values) == list(stimuli["stimulus_id"].values)
        assert list(mine["filename"].values) == list(stimuli["filename"].values)  # ImageNet-top1 sorts by it
    assert len(set(mine.values[0])) > 1
    with pytest.raises(ValueError, match="choice label 'spaceship' has no ImageNet classes"):
        ours.start_task(BrainModel.Task.label, ["dog", "spaceship"])


def test_odd_one_out_matches_brainscore(tmp_path):
    stimuli = _stimulus_set(tmp_path / "images", n_per_object=2)
    ids = list(stimuli["stimulus_id"].values)
    rng = np.random.default_rng(5)
    triplet_ids = [ids[i] for _ in range(12) for i in rng.choice(len(ids), 3, replace=False)]
    triplets = StimulusSet([{"stimulus_id": i} for i in triplet_ids])
    triplets.stimulus_paths = {i: stimuli.get_stimulus(i) for i in ids}
    triplets.identifier = "test-triplets"
    network = _network()
    ours, theirs = _ours(network), _brainscore(network)
    for measure in ("dot", "cosine"):
        ours.start_task(BrainModel.Task.odd_one_out, similarity_measure=measure)
        theirs.start_task(BrainModel.Task.odd_one_out)
        theirs.behavior_model.mapping[BrainModel.Task.odd_one_out].set_similarity_measure(measure)
        mine, reference = ours.look_at(triplets), theirs.look_at(triplets)
        assert mine.dims == reference.dims == ("choice", "presentation")
        assert list(mine["presentation"].values) == list(reference["presentation"].values)  # the "i|j|k" ids
        assert list(mine.values[0]) == list(reference.values[0])
    assert mine["presentation"].values[0] == "|".join(triplet_ids[:3])
    # an independent hand computation for the first triplet: the odd one is outside the most similar pair
    features = {}
    for i in triplet_ids[:3]:
        pixels = load_preprocess_images([str(stimuli.get_stimulus(i))], image_size=IMAGE_SIZE)
        with torch.no_grad():
            features[i] = network[:6](torch.from_numpy(pixels)).numpy().ravel().astype(np.float64)
    a, b, c = triplet_ids[:3]
    similarities = {c: features[a] @ features[b], b: features[a] @ features[c], a: features[b] @ features[c]}
    assert mine.values[0][0] == max(similarities, key=similarities.get)


def test_a_commitment_reads_rgba_grey_alpha_and_rotated_files_as_brainscore_does(tmp_path):
    """A commitment whose preprocessing is Brain-Score's load_preprocess_images sees the pixels Brain-Score's own
    wrapper computes from (alpha dropped, no EXIF rotation), not our decoding rules."""
    from PIL import ExifTags

    from model_registry.brainscore_models import commitment_model

    rng = np.random.default_rng(3)
    paths = []
    for mode, suffix in (("RGBA", "png"), ("LA", "png"), ("RGB", "jpg")):
        pixels = rng.integers(0, 256, (40, 30, 4), dtype=np.uint8)
        pixels[..., 3] = np.where(pixels[..., 3] > 128, 255, 0)  # half the pixels fully transparent
        image = Image.fromarray(pixels, "RGBA").convert(mode)
        path = tmp_path / f"image_{mode}.{suffix}"
        if suffix == "jpg":
            exif = Image.Exif()
            exif[ExifTags.Base.Orientation] = 6  # rotated: Brain-Score does not apply it
            image.save(path, exif=exif, quality=95)
        else:
            image.save(path)
        paths.append(str(path))
    network = _network()
    commitment = _brainscore(network)
    ours = commitment_model(commitment, progress=False, cache=False)
    assert ours.spec.preprocessing.decoder == "brainscore"
    expected = commitment.activations_model.get_activations(
        load_preprocess_images(paths, image_size=IMAGE_SIZE), ["3"])["3"].reshape(len(paths), -1)
    got = ours.activations(paths, ["3"])
    np.testing.assert_allclose(got.values, expected, atol=1e-5)
