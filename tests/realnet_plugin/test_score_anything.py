"""score() on anything: a plain nn.Module, a Brain-Score ModelCommitment object, RDMs (rsatoolbox or dict).

All on the real Kriegeskorte 2008 human-IT RDMs (92 images, 4 subjects). Reference values are computed here by a
second path: torchvision transforms + a bare forward pass + numpy correlation + scipy Spearman, and Brain-Score's
own activations extractor for the commitment.
"""
from __future__ import annotations

import functools
import shutil

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from rsatoolbox.rdm import RDMs
from scipy.spatial.distance import squareform
from scipy.stats import spearmanr

from benchmarks import load_benchmark
from model_registry import Preprocessing, get_spec, load_model, wrap
from model_registry.storage.fingerprint import weights_hash
from realnet_plugin.api import score

BENCHMARK = "kriegeskorte2008-hit-rsa"
LAYERS = ["layer3", "layer4"]


@pytest.fixture
def k92(tmp_path, kriegeskorte2008_dir, monkeypatch):
    root = tmp_path / "data"
    shutil.copytree(kriegeskorte2008_dir, root / "kriegeskorte2008")
    monkeypatch.setenv("REALNET_DATA_DIR", str(root))
    return load_benchmark(BENCHMARK, n_bootstrap=0)


@pytest.fixture(scope="module")
def resnet18() -> torch.nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None).eval()


def _hand_rdms(network: torch.nn.Module, images: list[Image.Image], layers: list[str], transform) -> dict:
    """1 - Pearson RDMs (condensed) of ``layers`` by bare forward hooks, torchvision transforms, numpy."""
    outputs = {}
    modules = dict(network.named_modules())

    def keep(layer):
        def hook(_module, _inputs, out):
            outputs[layer] = out.detach().reshape(len(out), -1).clone()  # returns None: the output is not replaced
        return hook

    handles = [modules[layer].register_forward_hook(keep(layer)) for layer in layers]
    with torch.no_grad():
        network(torch.stack([transform(image) for image in images]))
    for handle in handles:
        handle.remove()
    return {layer: squareform(1 - np.corrcoef(outputs[layer].double().numpy()), checks=False) for layer in layers}


def test_plain_module_scores_like_the_registered_network_and_a_hand_computation(k92, resnet18):
    torchvision_spec = get_spec("torchvision:resnet18")
    wrapped = score(resnet18, BENCHMARK, layers=LAYERS, preprocessing=torchvision_spec.preprocessing,
                    model_options={"cache": False, "progress": False}, n_bootstrap=0)
    registered_model = load_model("torchvision:resnet18", pretrained=False, progress=False)
    registered_model.network.load_state_dict(resnet18.state_dict())
    assert weights_hash(registered_model.network) == weights_hash(resnet18)
    registered = score(registered_model, BENCHMARK, layers=LAYERS, n_bootstrap=0)
    assert wrapped.attrs["model_identifier"] == f"module:ResNet-{weights_hash(resnet18)[:12]}"
    np.testing.assert_allclose(wrapped.attrs["similarity"].values, registered.attrs["similarity"].values,
                               rtol=0, atol=1e-12)
    assert float(wrapped) == pytest.approx(float(registered), abs=1e-12)
    # a second path: torchvision's own Resize(256) + CenterCrop(224) + Normalize, a bare hook, numpy, scipy
    transform = torchvision.transforms.Compose([
        torchvision.transforms.Resize(256), torchvision.transforms.CenterCrop(224),
        torchvision.transforms.ToTensor(),
        torchvision.transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    stimuli = k92.data.stimuli
    images = [stimuli.image(i) for i in range(len(stimuli))]
    subjects = k92.data.rdms["hIT"]  # (4, 4186) as the loader gives them; checked by the loader's own tests
    hand = _hand_rdms(resnet18, images, LAYERS, transform)
    for layer in LAYERS:
        reference = np.mean([spearmanr(hand[layer], s)[0] for s in subjects])
        got = float(wrapped.attrs["similarity"].sel(roi="hIT", layer=layer).mean())
        assert got == pytest.approx(reference, abs=1e-6), layer


def test_wrap_identifier_follows_the_weights_and_the_cache_never_serves_old_weights(k92):
    torch.manual_seed(1)
    network = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 5, stride=4), torch.nn.ReLU(), torch.nn.Conv2d(8, 8, 3))
    small = Preprocessing(image_size=64)
    first = score(network, BENCHMARK, layers=["2"], preprocessing=small, n_bootstrap=0)
    name = first.attrs["model_identifier"]
    with torch.no_grad():
        network[2].weight.mul_(-1.0).add_(0.3)  # in place: same object, other weights
    second = score(network, BENCHMARK, layers=["2"], preprocessing=small, n_bootstrap=0)
    assert second.attrs["model_identifier"] != name
    uncached = score(network, BENCHMARK, layers=["2"], preprocessing=small, n_bootstrap=0,
                     model_options={"cache": False})
    np.testing.assert_allclose(second.attrs["similarity"].values, uncached.attrs["similarity"].values, atol=1e-12)
    assert not np.allclose(first.attrs["similarity"].values, second.attrs["similarity"].values, atol=1e-6)


def test_wrong_inputs_fail_in_one_line_before_any_image(k92, resnet18):
    with pytest.raises(ValueError, match=r"layer 'layer9' is not a module of ResNet; close names: layer"):
        score(resnet18, BENCHMARK, layers=["layer9"], n_bootstrap=0)
    with pytest.raises(TypeError, match="preprocessing must be a model_registry.Preprocessing"):
        score(resnet18, BENCHMARK, preprocessing=torchvision.transforms.ToTensor(), n_bootstrap=0)
    with pytest.raises(TypeError, match="preprocessing= applies to a plain torch.nn.Module only"):
        score("torchvision:resnet18", BENCHMARK, preprocessing=Preprocessing(), n_bootstrap=0)
    with pytest.raises(TypeError, match="cannot score a int"):
        score(3, BENCHMARK, n_bootstrap=0)


# --- a Brain-Score ModelCommitment object -------------------------------------------------------------------


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 6, 5, stride=2)
        self.relu = torch.nn.ReLU()
        self.conv2 = torch.nn.Conv2d(6, 8, 3, stride=2)
        self.pool = torch.nn.AdaptiveAvgPool2d(4)
        self.fc = torch.nn.Linear(128, 10)

    def forward(self, x):
        x = self.pool(self.conv2(self.relu(self.conv1(x))))
        return self.fc(x.flatten(1))


def _commitment(network, region_layer_map):
    from brainscore_vision.model_helpers.activations.pytorch import PytorchWrapper, load_preprocess_images
    from brainscore_vision.model_helpers.brain_transformation import ModelCommitment

    preprocessing = functools.partial(load_preprocess_images, image_size=64)
    activations = PytorchWrapper(model=network, preprocessing=preprocessing, identifier="tiny-test")
    return ModelCommitment(identifier="tiny-test", activations_model=activations, layers=["conv1", "conv2", "pool"],
                           region_layer_map=region_layer_map)


def test_model_commitment_object_uses_its_region_layers_and_computes_what_brainscore_computes(k92, tmp_path):
    torch.manual_seed(3)
    network = Tiny().eval()
    commitment = _commitment(network, {"V1": "conv1", "V2": "conv1", "V4": "conv2", "IT": "pool"})
    result = score(commitment, BENCHMARK, n_bootstrap=0)  # formerly KeyError: 'conv1' (layers read as regions)
    assert list(result.attrs["similarity"]["layer"].values) == ["conv1", "conv2", "pool"]  # regions' layers, once
    assert result.attrs["model_identifier"] == "tiny-test"
    direct = score(wrap(network, layers=["conv1", "conv2", "pool"], preprocessing=Preprocessing(image_size=64)),
                   BENCHMARK, n_bootstrap=0)
    np.testing.assert_allclose(result.attrs["similarity"].values, direct.attrs["similarity"].values, atol=1e-12)
    overridden = score(commitment, BENCHMARK, layers=["conv2"], n_bootstrap=0)
    assert list(overridden.attrs["similarity"]["layer"].values) == ["conv2"]
    # Brain-Score's own extractor on the same images (PNG files, its loader and preprocessing), storage off
    stimuli = k92.data.stimuli
    paths = []
    for i in range(len(stimuli)):
        paths.append(str(tmp_path / f"{stimuli.ids[i]}.png"))
        stimuli.image(i).save(paths[-1])
    theirs = commitment.activations_model(paths, layers=["conv2"], stimuli_identifier=False)
    their_rdm = squareform(1 - np.corrcoef(np.asarray(theirs.values, dtype=np.float64)), checks=False)
    subjects = k92.data.rdms["hIT"]
    reference = np.mean([spearmanr(their_rdm, s)[0] for s in subjects])
    assert float(result.attrs["similarity"].sel(layer="conv2").mean()) == pytest.approx(reference, abs=1e-5)


# --- RDMs as a model -----------------------------------------------------------------------------------------


@pytest.fixture
def tiny_and_rdms(k92):
    """A tiny network's score and its RDMs computed here from its features with numpy (not the benchmark)."""
    torch.manual_seed(4)
    model = wrap(Tiny().eval(), layers=["conv1", "conv2"], preprocessing=Preprocessing(image_size=64), progress=False)
    stimuli = k92.data.stimuli
    activations = model.activations(stimuli, ["conv1", "conv2"])
    matrices = []
    for layer in ("conv1", "conv2"):
        values = np.asarray(activations.sel(layer=layer).values, dtype=np.float64)
        matrix = 1 - np.corrcoef(values)
        np.fill_diagonal(matrix, 0)
        matrices.append((matrix + matrix.T) / 2)
    return score(model, BENCHMARK, n_bootstrap=0), np.stack(matrices), list(stimuli.ids)


def test_rsatoolbox_rdms_score_like_the_model_and_are_reordered_by_id(k92, tiny_and_rdms):
    expected, matrices, ids = tiny_and_rdms
    rdms = RDMs(np.stack([squareform(m, checks=False) for m in matrices]), dissimilarity_measure="correlation",
                rdm_descriptors={"layer": ["conv1", "conv2"]}, pattern_descriptors={"stimulus_id": ids})
    got = score(rdms, BENCHMARK, n_bootstrap=0)
    np.testing.assert_allclose(got.attrs["similarity"].values, expected.attrs["similarity"].values, atol=1e-9)
    assert float(got) == pytest.approx(float(expected), abs=1e-9)
    assert got.attrs["model_provenance"]["source"] == "rsatoolbox.rdm.RDMs"
    order = np.random.default_rng(0).permutation(len(ids))
    shuffled = RDMs(np.stack([squareform(m[np.ix_(order, order)], checks=False) for m in matrices]),
                    rdm_descriptors={"layer": ["conv1", "conv2"]},
                    pattern_descriptors={"stimulus_id": [ids[i] for i in order]})
    reordered = score(shuffled, BENCHMARK, n_bootstrap=0)
    np.testing.assert_allclose(reordered.attrs["similarity"].values, expected.attrs["similarity"].values, atol=1e-9)
    # ids shuffled but the matrix not: a different model, a different (lower) score
    mislabelled = RDMs(np.stack([squareform(m, checks=False) for m in matrices]),
                       rdm_descriptors={"layer": ["conv1", "conv2"]},
                       pattern_descriptors={"stimulus_id": [ids[i] for i in order]})
    assert abs(float(score(mislabelled, BENCHMARK, n_bootstrap=0)) - float(expected)) > 0.05


def test_dict_rdms_with_ids_and_refusals(k92, tiny_and_rdms):
    expected, matrices, ids = tiny_and_rdms
    got = score({"conv1": matrices[0], "conv2": matrices[1]}, BENCHMARK, stimulus_ids=ids, n_bootstrap=0)
    np.testing.assert_allclose(got.attrs["similarity"].values, expected.attrs["similarity"].values, atol=1e-9)
    keep = list(range(1, len(ids)))
    with pytest.raises(ValueError, match=r"1 of kriegeskorte2008-hit-rsa's 92 stimulus ids are missing \(first: "
                                         r"\['k92_000_human_body'\]\)"):
        score({"conv2": matrices[1][np.ix_(keep, keep)]}, BENCHMARK, stimulus_ids=[ids[i] for i in keep],
              n_bootstrap=0)
    renamed = ids[:-1] + ["not_a_k92_image"]
    with pytest.raises(ValueError, match=r"missing .*1 ids are not kriegeskorte2008-hit-rsa's \(first: "
                                         r"\['not_a_k92_image'\]"):
        score({"conv2": matrices[1]}, BENCHMARK, stimulus_ids=renamed, n_bootstrap=0)
    with pytest.raises(TypeError, match="need stimulus_ids"):
        score({"conv2": matrices[1]}, BENCHMARK, n_bootstrap=0)


def test_commitments_whose_activations_are_not_plain_module_outputs_are_refused(k92):
    from brainscore_vision.model_helpers.activations.pytorch import PytorchWrapper, load_preprocess_images
    from brainscore_vision.model_helpers.brain_transformation import ModelCommitment

    class StepWrapper(PytorchWrapper):  # as Brain-Score's CORnet-S helper: its own hook, other activations
        def register_hook(self, layer, layer_name, target_dict):
            return super().register_hook(layer, layer_name, target_dict)

    preprocessing = functools.partial(load_preprocess_images, image_size=64)
    wrapper = StepWrapper(model=Tiny(), preprocessing=preprocessing, identifier="steps")
    commitment = ModelCommitment("steps", wrapper, layers=["conv1"], region_layer_map={"IT": "conv1"})
    with pytest.raises(TypeError, match=r"StepWrapper overrides PytorchWrapper.register_hook"):
        score(commitment, BENCHMARK, n_bootstrap=0)
    keywords = PytorchWrapper(model=Tiny(), preprocessing=preprocessing, identifier="kw", forward_kwargs={"t": 1})
    with pytest.raises(TypeError, match=r"keyword arguments \['t'\]"):
        score(ModelCommitment("kw", keywords, layers=["conv1"], region_layer_map={"IT": "conv1"}), BENCHMARK,
              n_bootstrap=0)
    plain = _commitment(Tiny(), {"IT": "logits"})  # Brain-Score's name for the output module
    assert list(plain.layers) == ["conv1", "conv2", "pool"]
    from model_registry import commitment_model
    assert commitment_model(plain).layers == ("fc",)
