"""Issue 16 / perf: the aligned ResNet-18 training step (hooks, pooling, encoders, loss) against a straightforward
reference on fixed inputs.

The reference runs a float64 copy of the same network by hand (torchvision ResNet-18's stages called one by one,
the layer outputs taken as they pass, ``adaptive_avg_pool2d`` to the recorded grid, the encoders written as
``x @ W.T + b``) and the ReAlnet loss written out from its definition (cross-entropy + beta x [MSE + 1 - mean
matched Pearson r + mean mismatched r], r from centred, normalised vectors). Both run in float64 (a random ResNet's
backward at beta = 100 amplifies float32 rounding beyond any useful tolerance), so loss and every gradient must
agree to ~1e-9 relative.
"""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
import torchvision

from model_registry.realnet import ReAlnet, ReAlnetConfig, head_name, probe_feature_sizes
from realnet_plugin.training.losses import realnet_loss

BACKBONE = "torchvision:resnet18"
LAYERS = ("conv1", "layer2", "layer3", "layer4")  # the default region map's V1, V2, V4, IT
SIZE, BATCH, BETA = 64, 4, 100.0


def _reference_loss(model: ReAlnet, images, labels, target, grid: dict[str, int]) -> torch.Tensor:
    """Float64 loss of ``model`` (a float64 copy) computed by hand."""
    net = model.realnet
    outputs = {}
    x = net.conv1(images)
    outputs["conv1"] = x
    x = net.maxpool(net.relu(net.bn1(x)))
    x = net.layer1(x)
    for name in ("layer2", "layer3", "layer4"):
        x = getattr(net, name)(x)
        outputs[name] = x
    logits = net.fc(torch.flatten(net.avgpool(x), 1))
    codes = []
    for layer in LAYERS:
        features = outputs[layer]
        if grid[layer]:  # pooled to grid x grid
            features = F.adaptive_avg_pool2d(features, grid[layer])
        head = getattr(model, head_name(layer))
        codes.append(torch.clamp(features.flatten(1) @ head.weight.T + head.bias, min=0))
    pred = torch.cat(codes, 1) @ model.fc.weight.T + model.fc.bias
    task = -torch.log_softmax(logits, 1)[torch.arange(len(labels)), labels].mean()
    mse = ((pred - target) ** 2).mean()
    centred_p = pred - pred.mean(1, keepdim=True)
    centred_t = target - target.mean(1, keepdim=True)
    r = (centred_p / centred_p.norm(dim=1, keepdim=True)) @ (centred_t / centred_t.norm(dim=1, keepdim=True)).T
    n = len(pred)
    matched = torch.trace(r) / n
    mismatched = (r.sum() - torch.trace(r)) / (n * (n - 1))
    return task + BETA * (mse + 1 - matched + mismatched)


@pytest.mark.parametrize("reduce", ["pool", "none"])
def test_aligned_step_loss_and_gradients_equal_a_reference_computation(reduce):
    torch.manual_seed(0)
    backbone = torchvision.models.resnet18(weights=None)
    sizes = probe_feature_sizes(backbone, LAYERS, SIZE, BACKBONE)
    assert sizes == (64 * 32 * 32, 128 * 8 * 8, 256 * 4 * 4, 512 * 2 * 2)
    config = ReAlnetConfig(image_size=SIZE, layers=LAYERS, backbone=BACKBONE, feature_sizes=sizes, reduce=reduce,
                           reduce_dim=2048 if reduce == "pool" else 0)
    model = ReAlnet(config, backbone=backbone).train()
    # 2048 features at most: conv1 64 x 5 x 5 (isqrt(32) = 5), layer2 128 x 4 x 4, layer3 256 x 2 x 2, layer4 as is
    grid = {"conv1": 5, "layer2": 4, "layer3": 2, "layer4": 0} if reduce == "pool" else dict.fromkeys(LAYERS, 0)
    for layer, side in grid.items():
        channels = {"conv1": 64, "layer2": 128, "layer3": 256, "layer4": 512}[layer]
        expected = channels * side * side if side else dict(zip(LAYERS, sizes))[layer]
        assert getattr(model, head_name(layer)).in_features == expected
    model = model.double()
    reference = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(1)
    images = torch.randn(BATCH, 3, SIZE, SIZE, generator=generator)
    labels = torch.randint(0, 1000, (BATCH,), generator=generator)
    target = torch.randn(BATCH, 340, generator=generator)

    logits, pred = model(images.double())
    loss = realnet_loss(logits, labels, pred, target.double(), beta=BETA).total
    loss.backward()
    expected = _reference_loss(reference, images.double(), labels, target.double(), grid)
    expected.backward()
    torch.testing.assert_close(loss, expected, rtol=1e-10, atol=0)
    ours, theirs = dict(model.named_parameters()), dict(reference.named_parameters())
    assert ours.keys() == theirs.keys()
    for name in ["fc.weight", "fc_conv1.weight", "fc_layer4.weight", "realnet.conv1.weight", "realnet.fc.weight"]:
        assert theirs[name].grad.abs().max() > 0, name  # the loss reaches the encoders and the backbone
    for name, parameter in ours.items():  # every parameter's gradient, relative to its largest entry
        expected_grad = theirs[name].grad
        scale = expected_grad.abs().max().clamp_min(1e-30)
        torch.testing.assert_close(parameter.grad / scale, expected_grad / scale, rtol=0, atol=1e-8, msg=name)
