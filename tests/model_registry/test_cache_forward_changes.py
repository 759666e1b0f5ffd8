"""The activation cache never serves another computation's outputs: networks with the same weights whose forward
differs (an activation function, a swapped module, an ablation hook, a lesion written through ``.data``, a global
flag) each get their own activations, checked against a forward pass with our own hooks."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from model_registry import Preprocessing, wrap
from model_registry.extractor import extract
from model_registry.storage.fingerprint import structure_digest, weights_hash

SIZE = 32
MODE = {"square": False}  # read inside forward: invisible to weights and module structure


class Net(nn.Module):
    def __init__(self, activation=F.relu):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3)
        self.c2 = nn.Conv2d(8, 8, 3)
        self.act = activation

    def forward(self, x):
        x = self.act(self.c1(x))
        x = x * x if MODE["square"] else x
        return self.c2(x)


def net(activation=F.relu) -> Net:
    torch.manual_seed(0)
    return Net(activation).eval()


def by_hand(network: nn.Module, files, layer: str = "c2") -> np.ndarray:
    """Our own forward with a hook, on pixels preprocessed by hand (resize, ToTensor, ImageNet mean / std)."""
    mean, std = torch.tensor([0.485, 0.456, 0.406])[:, None, None], torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    pixels = []
    for path in files:
        image = Image.open(path).convert("RGB").resize((SIZE, SIZE), Image.BILINEAR)
        pixels.append((torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1) - mean) / std)
    seen = {}
    handle = dict(network.named_modules())[layer].register_forward_hook(lambda m, i, o: seen.update(out=o.clone()))
    with torch.no_grad():
        network(torch.stack(pixels))
    handle.remove()
    return seen["out"].flatten(1).numpy()


def ours(network: nn.Module, files) -> np.ndarray:
    return extract(network, files, ["c2"], preprocessing=Preprocessing(image_size=SIZE), progress=False).values


def test_same_weights_other_forward_get_their_own_activations(image_files):
    relu, tanh = net(F.relu), net(torch.tanh)
    assert weights_hash(relu) == weights_hash(tanh) and structure_digest(relu) != structure_digest(tanh)
    for network in (relu, tanh, relu):  # each after the other has filled the cache
        np.testing.assert_allclose(ours(network, image_files), by_hand(network, image_files), atol=1e-5)
    assert wrap(relu).fingerprint() != wrap(tanh).fingerprint()
    assert wrap(relu).fingerprint() == wrap(net(F.relu)).fingerprint()  # stable for the same computation


def test_swapped_modules_hooks_and_lesions_through_data(image_files):
    network = net()
    ours(network, image_files)  # cached intact
    network.c1 = nn.Sequential(network.c1, nn.MaxPool2d(1))  # a swapped module, same weights
    np.testing.assert_allclose(ours(network, image_files), by_hand(network, image_files), atol=1e-5)
    network = net()
    mask = torch.ones(1, 8, 1, 1)
    mask[:, :4] = 0
    handle = network.c1.register_forward_hook(lambda module, inputs, output: output * mask)  # an ablation
    np.testing.assert_allclose(ours(network, image_files), by_hand(network, image_files), atol=1e-5)
    handle.remove()
    network = net()
    intact = ours(network, image_files)
    network.c1.weight.data[:4] = 0  # a lesion that bumps no version counter
    lesioned = ours(network, image_files)
    np.testing.assert_allclose(lesioned, by_hand(network, image_files), atol=1e-5)
    assert np.abs(lesioned - intact).max() > 0.01


def test_an_entry_that_disagrees_with_the_network_is_recomputed(image_files, caplog):
    network = net()
    try:
        plain = ours(network, image_files)
        MODE["square"] = True  # same key: weights, modules and attributes unchanged
        with caplog.at_level(logging.WARNING, logger="model_registry.extractor"):
            squared = ours(network, image_files)
        np.testing.assert_allclose(squared, by_hand(network, image_files), atol=1e-5)
        assert np.abs(squared - plain).max() > 0.01
        assert any("disagrees with the network's own outputs" in record.getMessage() for record in caplog.records)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="model_registry.extractor"):
            again = ours(network, image_files)  # the recomputed entry now agrees: served as it is
        np.testing.assert_array_equal(again, squared)
        assert not caplog.records
    finally:
        MODE["square"] = False


@pytest.mark.parametrize("attribute", [np.arange(2000.0), torch.arange(5000.0)])
def test_structure_sees_large_array_attributes_by_content(attribute):
    a, b = net(), net()
    a.table, b.table = attribute, attribute.copy() if isinstance(attribute, np.ndarray) else attribute.clone()
    assert structure_digest(a) == structure_digest(b)
    b.table[1000] += 1  # beyond what repr shows of a large array
    assert structure_digest(a) != structure_digest(b)


def test_an_edited_forward_is_another_computation():
    """The same class name, weights and attributes with another forward (a researcher editing the model between
    runs) get another structure digest; the same source gives the same digest."""
    source = '''
class Edited(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return {body}
'''
    networks = []
    for body in ("self.c1(x)", "torch.relu(self.c1(x))", "self.c1(x)"):
        namespace = {"nn": nn, "torch": torch}
        exec(source.format(body=body), namespace)  # noqa: S102 - a class defined from test source
        torch.manual_seed(0)
        networks.append(namespace["Edited"]())
    digests = [structure_digest(network) for network in networks]
    assert digests[0] != digests[1] and digests[0] == digests[2]
    assert weights_hash(networks[0]) == weights_hash(networks[1])
