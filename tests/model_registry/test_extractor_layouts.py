"""Outputs that are not one batch-first tensor: (tokens, batch, dim) layers, tuple / list / dict outputs.

References run the same weights through batch-first twins of the layers (``batch_first=True`` copies loaded with
the same state dict) on the pixels the network received, so no permutation of ours is reused."""
import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from model_registry import ActivationsExtractor, ModelSpec, Preprocessing, RegisteredModel, layer_blocks
from model_registry.layout import LayerLayout

DIM = 16


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(2)
    paths = []
    for i in range(8):
        path = tmp_path / f"img_{i}.png"
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


class TokenNet(nn.Module):
    """Patch embedding to (tokens=5, batch, 16), then sequence-first layers as PyTorch defines them."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Conv2d(3, DIM, 32, stride=32)  # 64 x 64 pixels -> 2 x 2 patches
        self.cls = nn.Parameter(torch.randn(1, 1, DIM))
        self.encoder = nn.TransformerEncoderLayer(DIM, nhead=2, dim_feedforward=32, dropout=0.0)
        self.attn = nn.MultiheadAttention(DIM, num_heads=2)
        self.lstm = nn.LSTM(DIM, 8)
        self.head = nn.Linear(8, 3)

    def tokens(self, x):  # (N, 3, 64, 64) -> (5, N, 16)
        patches = self.embed(x).flatten(2).permute(2, 0, 1)
        return torch.cat([self.cls.expand(1, x.shape[0], DIM), patches])

    def forward(self, x):
        tokens = self.encoder(self.tokens(x))
        attended, _ = self.attn(tokens, tokens, tokens)
        sequence, _ = self.lstm(attended)
        return self.head(sequence.mean(0))


def batch_first_reference(net: TokenNet, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each layer's output per image, (N, ...), computed by batch-first twins of the layers."""
    encoder = nn.TransformerEncoderLayer(DIM, nhead=2, dim_feedforward=32, dropout=0.0, batch_first=True).eval()
    encoder.load_state_dict(net.encoder.state_dict())
    attn = nn.MultiheadAttention(DIM, num_heads=2, batch_first=True).eval()
    attn.load_state_dict(net.attn.state_dict())
    lstm = nn.LSTM(DIM, 8, batch_first=True).eval()
    lstm.load_state_dict(net.lstm.state_dict())
    with torch.no_grad():
        patches = nn.functional.conv2d(pixels, net.embed.weight, net.embed.bias, stride=32).flatten(2).transpose(1, 2)
        tokens = torch.cat([net.cls.expand(len(pixels), 1, DIM), patches], dim=1)  # (N, 5, 16)
        encoded = encoder(tokens)
        attended, weights = attn(encoded, encoded, encoded)
        sequence, _ = lstm(attended)
    return {"encoder": encoded, "attn": attended, "attn_weights": weights, "lstm": sequence}


def run(net, images, layers, batch_size, **options):
    calls = []
    net.register_forward_pre_hook(lambda module, inputs: calls.append(inputs[0].detach().clone()))
    extractor = ActivationsExtractor(net, Preprocessing(64, "resize"), batch_size=batch_size, progress=False,
                                     cache=False, **options)
    return layer_blocks(extractor(images, layers)), calls


def close(ours: np.ndarray, reference: torch.Tensor) -> None:
    assert ours.shape == (len(reference), reference[0].numel())
    np.testing.assert_allclose(ours, reference.flatten(1).numpy(), rtol=1e-4, atol=1e-5)


def test_issue_example_tokens_batch_dim_gives_one_row_per_image(images):
    torch.manual_seed(0)
    net = TokenNet().eval()
    ours, calls = run(net, images, ["encoder"], batch_size=8)
    assert ours["encoder"].shape == (8, 80)  # not (8, 128) with rows 5-7 unwritten
    assert [len(c) for c in calls] == [8, 2]  # one batch, and one 2-image probe that finds the image axis
    close(ours["encoder"], batch_first_reference(net, calls[0])["encoder"])


def test_batch_size_3_and_a_smaller_last_batch_give_the_same_rows(images):
    torch.manual_seed(0)
    net = TokenNet().eval()
    ours, calls = run(net, images, ["encoder", "lstm", "head"], batch_size=3)
    assert [len(c) for c in calls] == [3, 2, 3, 2]  # batch 0, the probe, batches 1 and 2
    reference = batch_first_reference(net, torch.cat([calls[0], calls[2], calls[3]]))
    close(ours["encoder"], reference["encoder"])
    close(ours["lstm"], reference["lstm"])  # LSTM: element 0 of (output, (h, c)), sequence-first


def test_tokens_equal_to_batch_is_resolved_by_the_probe(images):
    torch.manual_seed(0)
    net = TokenNet().eval()
    ours, calls = run(net, images[:5], ["encoder"], batch_size=5)  # output (5 tokens, 5 images, 16)
    assert [len(c) for c in calls] == [5, 2]
    close(ours["encoder"], batch_first_reference(net, calls[0])["encoder"])


def test_a_layout_declared_in_the_model_spec_is_used_without_probing(images):
    torch.manual_seed(0)
    net = TokenNet().eval()
    spec = ModelSpec(identifier="test-token-net", builder=lambda pretrained: net, family="test",
                     layers=("encoder", "attn"), region_layer_map={"IT": "encoder"},
                     preprocessing=Preprocessing(64, "resize"), layer_layouts={"encoder": "LND", "attn": "LND"})
    assert spec.layer_layouts["encoder"] == LayerLayout(axes="LND")
    calls = []
    net.register_forward_pre_hook(lambda module, inputs: calls.append(inputs[0].detach().clone()))
    model = RegisteredModel(spec, network=net, cache=False, progress=False, batch_size=5)
    ours = layer_blocks(model.activations(images[:5]))
    assert [len(c) for c in calls] == [5]
    reference = batch_first_reference(net, calls[0])
    close(ours["encoder"], reference["encoder"])
    close(ours["attn"], reference["attn"])


def test_a_declared_layout_that_does_not_fit_is_refused(images):
    net = TokenNet().eval()
    with pytest.raises(ValueError, match=r"layer 'encoder': the declared layout 'NLD' does not fit its output of "
                                         r"shape \(5, 4, 16\)"):
        run(net, images[:4], ["encoder"], batch_size=4, layer_layouts={"encoder": "NLD"})
    with pytest.raises(ValueError, match="layer_layouts names 'encoderr'.*close names: encoder"):
        run(net, images[:4], ["encoder"], batch_size=4, layer_layouts={"encoderr": "LND"})
    with pytest.raises(ValueError, match="exactly one 'N'"):
        LayerLayout(axes="LBD")


def test_multihead_attention_tuple_gives_element_0_or_the_declared_item(images):
    torch.manual_seed(0)
    net = TokenNet().eval()
    ours, calls = run(net, images[:4], ["attn"], batch_size=4)
    reference = batch_first_reference(net, calls[0])
    close(ours["attn"], reference["attn"])  # (attn_output, attn_weights) -> attn_output, sequence-first
    weights, calls = run(net, images[:4], ["attn"], batch_size=4, layer_layouts={"attn": LayerLayout(item=1)})
    close(weights["attn"], batch_first_reference(net, calls[0])["attn_weights"])  # (N, 5, 5), batch-first


class Outputs(nn.Module):
    """Wraps a conv; returns its output in the container ``kind``."""

    def __init__(self, kind):
        super().__init__()
        self.kind = kind
        self.conv = nn.Conv2d(3, 4, 8, stride=8)
        self.block = nn.Identity()

    def forward(self, x):
        y = self.conv(x)
        if self.kind == "dict":
            return {"features": y, "pooled": y.mean(dim=(2, 3))}
        if self.kind == "none-first":
            return None, y
        if self.kind == "gram":
            return self.block(y.flatten(1) @ y.flatten(1).T)  # (N, N): no image axis can be told apart
        if self.kind == "drop-row":
            return self.block(y[1:])
        raise ValueError(self.kind)


def test_dict_output_needs_a_declared_key_and_then_reads_it(images):
    torch.manual_seed(0)
    net = Outputs("dict").eval()
    with pytest.raises(TypeError, match=r"module '' returned a dict with keys \['features', 'pooled'\]; declare"):
        run(net, images[:3], [""], batch_size=3)
    ours, calls = run(net, images[:3], [""], batch_size=3, layer_layouts={"": LayerLayout(item="pooled")})
    with torch.no_grad():
        reference = nn.functional.conv2d(calls[0], net.conv.weight, net.conv.bias, stride=8).mean(dim=(2, 3))
    close(ours[""], reference)
    with pytest.raises(ValueError, match=r"keys \['features', 'pooled'\], which lack the declared item 'logits'"):
        run(net, images[:3], [""], batch_size=3, layer_layouts={"": LayerLayout(item="logits")})


def test_tuple_whose_element_0_is_not_a_tensor_is_refused_or_read_by_declared_index(images):
    torch.manual_seed(0)
    net = Outputs("none-first").eval()
    with pytest.raises(TypeError, match=r"element 0 is not a tensor \(elements: \['NoneType', 'Tensor'\]\)"):
        run(net, images[:3], [""], batch_size=3)
    ours, calls = run(net, images[:3], [""], batch_size=3, layer_layouts={"": LayerLayout(item=1)})
    with torch.no_grad():
        reference = nn.functional.conv2d(calls[0], net.conv.weight, net.conv.bias, stride=8)
    close(ours[""], reference)


def test_outputs_without_a_findable_image_axis_are_refused_in_one_line(images):
    for kind, why in [("gram", "on 2 images it is (2, 2)"), ("drop-row", "no axis has size 3")]:
        net = Outputs(kind).eval()
        with pytest.raises(ValueError, match="not batch-first") as error:
            run(net, images[:3], ["block"], batch_size=3)
        message = str(error.value)
        assert "\n" not in message and why in message and "layer 'block'" in message
        assert "layer_layouts={'block': LayerLayout(axes=...)}" in message


class ChangingTokens(nn.Module):
    """(tokens, batch, dim) with 5 tokens on the first calls and 6 later: no one layout fits every batch."""

    def __init__(self):
        super().__init__()
        self.block = nn.Identity()
        self.calls = 0

    def forward(self, x):
        tokens = 5 if self.calls < 2 else 6
        self.calls += 1
        return self.block(x.mean(dim=(1, 2))[None, :, :DIM].expand(tokens, -1, -1))


def test_a_later_batch_that_does_not_fit_the_first_batch_layout_is_refused(images):
    with pytest.raises(ValueError, match=r"layer 'block': output shape \(6, 3, 16\) on rows 3..5 \(3 images\) "
                                         r"does not follow the first batch's layout \(expected \(5, 3, 16\)"):
        run(ChangingTokens().eval(), images, ["block"], batch_size=3)


def test_rows_that_were_never_written_are_an_error_not_uninitialised_memory(images, monkeypatch):
    from model_registry import extractor as extractor_module

    original = extractor_module._Run.write

    def skip_second_batch(self, batch):  # a writer that loses one batch, as a broken layout would
        if batch.start != 3:
            original(self, batch)

    monkeypatch.setattr(extractor_module._Run, "write", skip_second_batch)
    with pytest.raises(RuntimeError, match=r"3 rows of the activations were never written \(first: \[3, 4, 5\]\)"):
        run(TokenNet().eval(), images, ["head"], batch_size=3)


class PositionTable(nn.Module):
    """A layer whose output has as many rows as there are images only by chance: 5 positional embeddings."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=8)
        self.pos = nn.Embedding(5, 16)

    def forward(self, x):
        return self.conv(x).flatten(1).sum(1, keepdim=True) + self.pos(torch.arange(5)).sum()


@pytest.mark.parametrize("batch_size", [5, 8])
def test_an_output_with_n_rows_by_chance_is_not_read_as_one_row_per_image(tmp_path, batch_size):
    """5 images in one batch (or one batch of 5 out of 8): the (5, 16) table does not follow the batch size."""
    rng = np.random.default_rng(0)
    paths = []
    for i in range(5):
        paths.append(tmp_path / f"img_{i}.png")
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(paths[-1])
    extractor = ActivationsExtractor(PositionTable().eval(), Preprocessing(32, "resize"), batch_size=batch_size,
                                     cache=False, progress=False)
    with pytest.raises(ValueError, match="pos") as error:
        extractor(paths, ["pos"])
    assert "\n" not in str(error.value)


def test_pooling_a_channel_last_stage_pools_height_and_width(image_files):
    """torchvision's Swin stages return (N, H, W, C): avgpool must give the C channel means over H and W (as our own
    hooked forward computes them), not means over W and C."""
    from model_registry import load_model
    from model_registry.reduction import Reduction

    model = load_model("torchvision:swin_t", pretrained=False, seed=0, progress=False)
    assert model.spec.layer_layouts["features.1"].axes == "NHWC" and "features.0.0" not in model.spec.layer_layouts
    pooled = model.activations(image_files[:2], ["features.1", "features.0.0"], reduction=Reduction("avgpool"))
    seen = {}
    network = model.network
    modules = dict(network.named_modules())
    hooks = [modules[name].register_forward_hook(lambda m, i, o, name=name: seen.update({name: o.clone()}))
             for name in ("features.1", "features.0.0")]
    with torch.no_grad():
        network(torch.stack([model.spec.preprocessing(Image.open(path)) for path in image_files[:2]]))
    for hook in hooks:
        hook.remove()
    channel_last, channel_first = seen["features.1"], seen["features.0.0"]  # (2, 56, 56, 96) and (2, 96, 56, 56)
    expected = torch.cat([channel_last.mean(dim=(1, 2)), channel_first.mean(dim=(2, 3))], dim=1).numpy()
    np.testing.assert_allclose(pooled.values, expected, atol=1e-5)
    assert pooled.values.shape == (2, 96 + 96)


def test_a_one_dimensional_output_is_one_feature_per_image(image_files):
    class Mean(nn.Module):
        def forward(self, x):
            return x.mean(dim=(1, 2, 3))  # (N,)

    network = nn.Sequential(nn.Conv2d(3, 4, 3), Mean()).eval()
    pixels = torch.stack([Preprocessing(32)(Image.open(path)) for path in image_files[:3]])
    with torch.no_grad():
        expected = network(pixels).numpy()[:, None]  # our own forward: the module's value per image
    got = ActivationsExtractor(network, Preprocessing(32), cache=False, progress=False)(image_files[:3], ["1"])
    np.testing.assert_allclose(got.values, expected, atol=1e-6)


def test_default_layers_leave_out_modules_an_eval_forward_never_calls():
    from model_registry.registry import get_spec

    googlenet = get_spec("torchvision:googlenet")
    assert "aux1" not in googlenet.layers and "aux2" not in googlenet.layers and "inception5b" in googlenet.layers
    assert not {"aux1", "aux2"} & set(googlenet.region_layer_map.values())
    assert "AuxLogits" not in get_spec("torchvision:inception_v3").layers
    # a builder that reads tensor values cannot run on the meta device: built on the CPU instead of failing
    assert get_spec("torchvision:regnet_y_400mf").layers == ("stem", "trunk_output", "avgpool", "fc")


def test_a_module_the_forward_never_calls_is_named_with_the_likely_cause(image_files):
    class WithAux(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Conv2d(3, 4, 3)
            self.aux = nn.Linear(4, 2)  # run only in training, as GoogLeNet's aux1 / aux2

        def forward(self, x):
            x = self.body(x)
            return self.aux(x.mean(dim=(2, 3))) if self.training else x

    extractor = ActivationsExtractor(WithAux(), Preprocessing(32), cache=False, progress=False)
    with pytest.raises(RuntimeError, match=r"module 'aux' was not called during the forward pass \(extraction runs "
                                           r"the network in eval mode"):
        extractor(image_files[:2], ["aux"])
