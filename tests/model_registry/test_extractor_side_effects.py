"""Extraction leaves the caller's network as it found it: per-module training flags, device, no hooks."""
import copy

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from model_registry import ActivationsExtractor, extract, layer_blocks


def modes(network: nn.Module) -> dict[str, bool]:
    return {name: module.training for name, module in network.named_modules()}


def hooks(network: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in network.modules())


@pytest.fixture
def mixed_mode_resnet():
    torch.manual_seed(0)
    network = torchvision.models.resnet18(weights=None)
    network.train()
    network.layer2.eval()  # a caller fine-tuning with a frozen block: the flags differ per submodule
    network.layer3[1].bn2.eval()
    return network


def test_training_flags_are_restored_per_module_and_extraction_ran_in_eval_mode(mixed_mode_resnet, image_files):
    network = mixed_mode_resnet
    before = modes(network)
    assert len(set(before.values())) == 2
    stats = copy.deepcopy(network.bn1.state_dict())
    ours = layer_blocks(extract(network, image_files, ["avgpool"], cache=False, progress=False, batch_size=3))
    assert modes(network) == before
    assert hooks(network) == 0
    # eval mode during extraction: running statistics untouched, and rows match an eval-mode copy by hand
    for name, value in network.bn1.state_dict().items():
        assert torch.equal(value, stats[name]), name
    assert network.training  # still training afterwards
    reference_net = copy.deepcopy(network).eval()
    pixels = []
    reference_net.register_forward_pre_hook(lambda module, inputs: pixels.append(inputs[0]))
    extract(reference_net, image_files, ["fc"], cache=False, progress=False, batch_size=6)
    with torch.no_grad():
        x = reference_net.maxpool(reference_net.relu(reference_net.bn1(reference_net.conv1(pixels[0]))))
        x = reference_net.layer4(reference_net.layer3(reference_net.layer2(reference_net.layer1(x))))
        expected = x.mean(dim=(2, 3))
    np.testing.assert_allclose(ours["avgpool"], expected.numpy(), rtol=1e-4, atol=1e-5)


def test_flags_and_hooks_are_restored_when_extraction_fails(mixed_mode_resnet, image_files):
    network = mixed_mode_resnet
    before = modes(network)
    network.layer1.register_forward_hook(lambda module, inputs, output: {"a": output})  # now returns a dict
    with pytest.raises(TypeError, match="returned a dict with keys"):
        ActivationsExtractor(network, cache=False, progress=False)(image_files, ["layer1"])
    assert modes(network) == before
    assert hooks(network) == 1  # only the caller's own hook is left


def test_parameters_stay_where_they_were(image_files):
    torch.manual_seed(0)
    network = torchvision.models.resnet18(weights=None).eval()
    places = {name: (p, p.data_ptr(), p.device) for name, p in network.named_parameters()}
    ActivationsExtractor(network, cache=False, progress=False, device="cpu")(image_files, ["fc"])
    for name, p in network.named_parameters():
        assert places[name] == (p, p.data_ptr(), p.device), name


def test_a_network_spread_over_devices_is_refused_before_it_runs(image_files):
    network = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten())
    network.register_buffer("elsewhere", torch.zeros(2, device="meta"))
    calls = []
    network.register_forward_pre_hook(lambda *args: calls.append(1))
    with pytest.raises(ValueError, match=r"on several devices \(cpu, meta\).*move it to one device first"):
        ActivationsExtractor(network, cache=False, progress=False, device="cpu")(image_files, ["0"])
    assert calls == [] and hooks(network) == 1
    assert network[0].weight.device.type == "cpu" and network.elsewhere.device.type == "meta"
