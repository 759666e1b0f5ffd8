"""The extractor returns each module's output as it was when the module returned, even when a later in-place op
rewrites that memory. References are computed by hand (functional conv / batch norm on the pixels the network
received), never through the extractor."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image
from torch import nn

from model_registry import ActivationsExtractor, Preprocessing, layer_blocks, load_model


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(1)
    paths = []
    for i in range(5):
        path = tmp_path / f"img_{i}.png"
        Image.fromarray(rng.integers(0, 255, (40 + 4 * i, 48, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def received_inputs(network: nn.Module) -> list[torch.Tensor]:
    """Every batch the network is called with (a copy), in call order."""
    batches = []
    network.register_forward_pre_hook(lambda module, inputs: batches.append(inputs[0].detach().clone()))
    return batches


def conv(layer: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    return F.conv2d(x, layer.weight, layer.bias, stride=layer.stride, padding=layer.padding)


def batch_norm(layer: nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
    return F.batch_norm(x, layer.running_mean, layer.running_var, layer.weight, layer.bias, training=False,
                        eps=layer.eps)


def extract(network, images, layers, batch_size=2, **options):
    extractor = ActivationsExtractor(network, Preprocessing(64, "resize"), batch_size=batch_size, progress=False,
                                     cache=False, **options)
    return extractor, layer_blocks(extractor(images, layers))


def assert_pre_activation(ours: np.ndarray, reference: torch.Tensor) -> None:
    reference = reference.flatten(1).numpy()
    assert (reference < 0).mean() > 0.2  # the true output has many negative values ...
    assert (ours < 0).mean() > 0.2  # ... and so does ours (a ReLU'd copy would have none)
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-5)


def test_alexnet_features0_is_the_conv_output_not_the_relu(images):
    torch.manual_seed(0)
    network = torchvision.models.alexnet(weights=None).eval()
    inputs = received_inputs(network)
    extractor, ours = extract(network, images, ["features.0", "features.1", "classifier.6"])
    pixels = torch.cat(inputs[-3:])  # the last three forwards are batches 0, 1, 2 of the (final) pass
    with torch.no_grad():
        reference = conv(network.features[0], pixels)
    assert_pre_activation(ours["features.0"], reference)
    np.testing.assert_allclose(ours["features.1"], reference.relu().flatten(1).numpy(), rtol=1e-5, atol=1e-5)
    assert extractor.cloned_modules == {"features.0"}  # only the module that needs it is copied


def test_resnet18_bn1_only_bn1_is_copied_and_one_batch_recomputed(images):
    torch.manual_seed(0)
    network = torchvision.models.resnet18(weights=None).eval()
    inputs = received_inputs(network)
    extractor, ours = extract(network, images, ["bn1", "layer1", "fc"], batch_size=2)
    assert len(inputs) == 4  # 3 batches + one recomputation of the batch that revealed the in-place ReLU
    assert torch.equal(inputs[0], inputs[1])
    pixels = torch.cat(inputs[1:])
    with torch.no_grad():
        reference = batch_norm(network.bn1, conv(network.conv1, pixels))
        fc_reference = network(pixels)
    assert_pre_activation(ours["bn1"], reference)
    np.testing.assert_allclose(ours["fc"], fc_reference.numpy(), rtol=1e-4, atol=1e-5)
    assert extractor.cloned_modules == {"bn1"}
    inputs.clear()  # a second extraction of the same network copies bn1 from the start: no recomputation
    _, again = extract(network, images, ["bn1"], batch_size=2)
    assert len(inputs) == 3
    np.testing.assert_array_equal(again["bn1"], ours["bn1"])


def test_vgg11_features0(images):
    torch.manual_seed(0)
    network = torchvision.models.vgg11(weights=None).eval()
    inputs = received_inputs(network)
    _, ours = extract(network, images[:3], ["features.0"], batch_size=3)
    with torch.no_grad():
        reference = conv(network.features[0], inputs[-1])
    assert_pre_activation(ours["features.0"], reference)


def test_cornet_s_v1_norm1_through_the_registry(images):
    torch.manual_seed(0)
    model = load_model("cornet_s", pretrained=False, cache=False, progress=False, batch_size=2)
    inputs = received_inputs(model.network)
    ours = layer_blocks(model.activations(images[:3], ["V1.norm1", "V1.nonlin1", "V2.output-t1"]))
    pixels = torch.cat(inputs[-2:])
    v1 = model.network.V1
    with torch.no_grad():
        reference = batch_norm(v1.norm1, conv(v1.conv1, pixels))
    assert_pre_activation(ours["V1.norm1"], reference)
    np.testing.assert_allclose(ours["V1.nonlin1"], reference.relu().flatten(1).numpy(), rtol=1e-5, atol=1e-5)
    assert ours["V2.output-t1"].min() >= 0  # a block output is a ReLU output: nothing to copy there


class SometimesInPlace(nn.Module):
    """A conv whose output a later op rewrites in place only on the forward calls listed in ``rewrite_calls``."""

    def __init__(self, rewrite_calls):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=8)
        self.rewrite_calls = set(rewrite_calls)
        self.calls = 0

    def forward(self, x):
        y = self.conv(x)
        if self.calls in self.rewrite_calls:
            y.relu_()
        self.calls += 1
        return y.sum(dim=(2, 3))


def test_a_module_rewritten_only_on_a_later_batch_is_still_right(images):
    torch.manual_seed(0)
    network = SometimesInPlace(rewrite_calls={2}).eval()  # clean on batches 0 and 1, rewritten on batch 2
    inputs = received_inputs(network)
    extractor, ours = extract(network, images, ["conv"], batch_size=2)
    pixels = torch.cat([inputs[0], inputs[1], inputs[3]])  # call 2 was discarded and recomputed as call 3
    with torch.no_grad():
        reference = conv(network.conv, pixels)
    assert_pre_activation(ours["conv"], reference)
    assert extractor.cloned_modules == {"conv"}


class ReusedBuffer(nn.Module):
    """Returns the same buffer on every call and overwrites it on the next one (a stateful module)."""

    def __init__(self):
        super().__init__()
        self.out = None

    def forward(self, x):
        if self.out is None or self.out.shape != x.shape:
            self.out = torch.empty_like(x)
        self.out.copy_(x * 2 - 1)
        return self.out


class Holder(nn.Module):
    def __init__(self):
        super().__init__()
        self.reuse = ReusedBuffer()
        self.head = nn.Linear(3, 2)

    def forward(self, x):
        return self.head(self.reuse(x).mean(dim=(2, 3)))


@pytest.mark.parametrize("cache", [False, True])
def test_an_output_overwritten_by_the_next_batch_is_recomputed(images, cache):
    network = Holder().eval()
    inputs = received_inputs(network)
    extractor = ActivationsExtractor(network, Preprocessing(16, "resize"), batch_size=2, progress=False, cache=cache)
    ours = extractor(images, ["reuse"]).values
    # each row is 2 x - 1 of its own image's pixels, never of the next batch's (recomputed batches repeat pixels)
    distinct = []
    for batch in inputs:
        if not any(batch.shape == seen.shape and torch.equal(batch, seen) for seen in distinct):
            distinct.append(batch)
    pixels = torch.cat(distinct)
    assert len(pixels) == len(images)
    np.testing.assert_allclose(ours, (pixels * 2 - 1).flatten(1).numpy(), rtol=0, atol=1e-6)
    assert extractor.cloned_modules == {"reuse"}  # detected by the version counter, whatever the thread timing
    if cache:
        np.testing.assert_array_equal(extractor(images, ["reuse"]).values, ours)  # served, checksum intact


def test_extraction_inside_inference_mode_is_right(images):
    torch.manual_seed(0)
    network = torchvision.models.alexnet(weights=None).eval()
    inputs = received_inputs(network)
    with torch.inference_mode():
        _, ours = extract(network, images[:2], ["features.0"])
    with torch.no_grad():
        # the batch of both images (a one-batch run also calls the network once on 3 images to confirm the image axis)
        reference = conv(network.features[0], [x for x in inputs if len(x) == 2][-1].clone())
    assert_pre_activation(ours["features.0"], reference)


class EditsItsInput(nn.Module):
    """Scales its input in place, then a conv whose output an in-place ReLU rewrites."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=4)

    def forward(self, x):
        x.mul_(2)
        return self.conv(x).relu_().mean(dim=(2, 3))


def test_a_recomputed_batch_gets_the_original_pixels_when_the_network_edits_its_input(images):
    torch.manual_seed(0)
    network = EditsItsInput().eval()
    inputs = received_inputs(network)
    _, ours = extract(network, images[:2], ["conv"], batch_size=2)
    inputs = [x for x in inputs if len(x) == 2]  # without the 3-image call that confirms the image axis
    assert len(inputs) == 2 and torch.equal(inputs[0], inputs[1])  # the recomputation saw the same pixels
    with torch.no_grad():
        reference = conv(network.conv, inputs[0] * 2)
    assert_pre_activation(ours["conv"], reference)


def test_a_write_through_data_after_the_hook_is_caught(image_files):
    """``y.data.clamp_()`` bumps no version counter: the value at hook time is still returned (our own hook clones
    it when it fires)."""
    class DataClamp(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
            self.conv2 = torch.nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, x):
            y = self.conv(x)
            y.data.clamp_(min=0)
            return self.conv2(y)

    torch.manual_seed(0)
    network = DataClamp().eval()
    seen = {}
    handle = network.conv.register_forward_hook(lambda m, i, o: seen.update(out=o.clone()))
    pixels = torch.stack([Preprocessing(16)(Image.open(path)) for path in image_files[:3]])
    with torch.no_grad():
        network(pixels)
    handle.remove()
    got = ActivationsExtractor(network, Preprocessing(16), cache=False, progress=False)(image_files[:3], ["conv"])
    assert seen["out"].min() < 0  # the clamp really rewrote values the hook had seen
    np.testing.assert_allclose(got.values, seen["out"].flatten(1).numpy(), atol=1e-6)
