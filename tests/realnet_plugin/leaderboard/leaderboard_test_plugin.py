"""Tiny models and benchmarks for the leaderboard tests, imported by every worker (``imports=[MODULE]``).

``lbtest_tiny_a`` / ``lbtest_tiny_b``: a 3->4 channel conv net; "trained" weights are a fixed initialisation, or
``$REALNET_HOME/lbtest/<id>.pt`` when a test "retrains" the model (loaded with ``weights_only=True``).
``lbdefined_tiny``: the weights of ``lbtest_tiny_a`` (fixed initialisation) with a definition read from
``$LBTEST_DEFINITION`` (JSON: ``image_size``, ``layers``, ``visual_degrees``; environment, so workers see it too):
the same weights under another preprocessing or other layers.
``lbtest-logit-mean``: score = sigmoid(mean logit over 6 fixed noise images); version from
``$LBTEST_BENCHMARK_VERSION`` (default 1). ``lbtest-broken`` always fails.
"""
from __future__ import annotations

import os

import torch
from brainscore_core.benchmarks import BenchmarkBase
from brainscore_core.metrics import Score
from torch import nn

from benchmarks.registry import register_benchmark
from model_registry import Preprocessing, register_model
from model_registry.registry import ModelSpec, register_spec
from model_registry.storage.paths import realnet_home

MODULE = __name__
MODEL_SEEDS = {"lbtest_tiny_a": 1, "lbtest_tiny_b": 2}


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(4, 10)

    def forward(self, images: torch.Tensor) -> torch.Tensor:  # (N, 3, H, W) -> (N, 10)
        return self.classifier(self.features(images))


def weights_file(identifier: str):
    return realnet_home() / "lbtest" / f"{identifier}.pt"


def _builder(identifier: str):
    def build(pretrained: bool) -> nn.Module:
        network = TinyNet()
        if pretrained:
            path = weights_file(identifier)
            if path.is_file():
                network.load_state_dict(torch.load(path, weights_only=True))
            else:
                generator = torch.Generator().manual_seed(MODEL_SEEDS[identifier])
                with torch.no_grad():
                    for parameter in network.parameters():
                        parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
        return network

    return build


for _identifier in MODEL_SEEDS:
    register_model(_identifier, family="lbtest", layers=("features", "classifier"),
                   region_layer_map={"IT": "features"}, logits_layer="classifier")(_builder(_identifier))


def _defined_spec() -> ModelSpec:
    import json

    definition = json.loads(os.environ.get("LBTEST_DEFINITION", "{}"))
    return ModelSpec(identifier="lbdefined_tiny", builder=_builder("lbtest_tiny_a"), family="lbtest",
                     layers=tuple(definition.get("layers", ("features", "classifier"))),
                     region_layer_map={"IT": "features"}, logits_layer="classifier",
                     preprocessing=Preprocessing(image_size=definition.get("image_size", 16)),
                     visual_degrees=definition.get("visual_degrees", 8.0))


register_spec("lbdefined_tiny", _defined_spec)


def logit_mean(network: nn.Module) -> float:
    """The quantity ``lbtest-logit-mean`` scores: mean logit over 6 fixed noise images (16 x 16 pixels)."""
    images = torch.randn(6, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return float(network(images).mean())


class LogitMeanBenchmark(BenchmarkBase):
    def __init__(self, offset: float = 0.0, progress: bool = True):
        super().__init__(identifier="lbtest-logit-mean", ceiling=Score(0.9),
                         version=int(os.environ.get("LBTEST_BENCHMARK_VERSION", "1")), parent="test")
        self.offset, self.progress = offset, progress

    def __call__(self, candidate) -> Score:
        raw = logit_mean(candidate.network) + self.offset
        value = 1 / (1 + torch.exp(torch.tensor(-raw)).item())
        result = Score(value)
        result.attrs.update({"raw": Score(raw), "ceiling": self.ceiling, "error": Score(0.01),
                             "ci": [value - 0.05, value + 0.05], "n_images": 6})
        return result


class BrokenBenchmark(BenchmarkBase):
    def __init__(self):
        super().__init__(identifier="lbtest-broken", ceiling=Score(1.0), version=1, parent="test")

    def __call__(self, candidate) -> Score:
        raise RuntimeError("broken on purpose\nsecond line")


register_benchmark("lbtest-logit-mean", LogitMeanBenchmark)
register_benchmark("lbtest-broken", BrokenBenchmark)
