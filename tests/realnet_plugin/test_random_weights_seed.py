"""Issue 11, section 2: ``realnet score --random-weights`` is seeded (``--seed``, default 0, as the leaderboard).

Two runs give identical scores and the activation cache holds one entry per layer (not one per run); the score
equals that of the same architecture built by hand under ``torch.manual_seed(0)`` and scored as a plain module (a
second path: ``wrap`` instead of the registry, no ``--seed`` involved); another seed gives other weights and another
score. On the real Kriegeskorte 2008 human-IT RDMs (92 images).
"""
from __future__ import annotations

import json
import re
import shutil

import pytest
import torch
from torch import nn

from model_registry import Preprocessing, list_models, register_model
from model_registry.storage.paths import cache_dir
from realnet_plugin.api import score
from realnet_plugin.cli import main

MODEL = "test_seeded_random_net"
LAYERS = ("1", "3")
PIXELS = Preprocessing(image_size=64)
BENCHMARK = "kriegeskorte2008-hit-rsa"


def _build() -> nn.Module:
    """Random initialisation from torch's global generator, as every architecture's default init."""
    return nn.Sequential(nn.Conv2d(3, 8, 5, stride=4), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2), nn.ReLU())


@pytest.fixture
def k92(tmp_path, kriegeskorte2008_dir, monkeypatch):
    root = tmp_path / "data"
    shutil.copytree(kriegeskorte2008_dir, root / "kriegeskorte2008")
    monkeypatch.setenv("REALNET_DATA_DIR", str(root))
    if MODEL not in list_models(MODEL):
        register_model(MODEL, family="test", layers=LAYERS, region_layer_map={"V1": "1", "IT": "3"},
                       preprocessing=PIXELS)(lambda pretrained: _build())
    return root


def _entries() -> list[str]:
    """Committed entries: ``<root>/<2 hex>/<64 hex>/`` folders (not locks, not hidden half-built ones)."""
    root = cache_dir("activations")
    return sorted(p.name for p in root.glob("*/*") if p.is_dir() and re.fullmatch(r"[0-9a-f]{64}", p.name))


def _score(tmp_path, name: str, *extra: str) -> dict:
    out = tmp_path / f"{name}.json"
    assert main(["score", MODEL, BENCHMARK, "--random-weights", "--option", "n_bootstrap=0", "--json", str(out),
                 *extra]) == 0
    return json.loads(out.read_text())


def test_random_weights_are_seeded_reproducible_and_cached_once(k92, tmp_path):
    torch.manual_seed(12345)  # whatever the global generator holds, the build is seeded
    first = _score(tmp_path, "first")
    entries = _entries()
    assert 1 <= len(entries) <= len(LAYERS)
    torch.rand(17)  # the global generator moved on
    second = _score(tmp_path, "second", "--seed", "0")  # 0 is the default
    assert second["score"] == first["score"]
    assert json.dumps(second["similarity"]) == json.dumps(first["similarity"])
    assert _entries() == entries  # the second run read the cache: no entry added

    # second path: the same architecture built by hand under manual_seed(0), scored as a plain module
    torch.manual_seed(0)
    by_hand = _build()
    reference = score(by_hand, BENCHMARK, layers=list(LAYERS), preprocessing=PIXELS, n_bootstrap=0,
                      model_options={"cache": False})
    assert float(reference) == pytest.approx(first["score"], abs=1e-12)

    other = _score(tmp_path, "other", "--seed", "1")
    assert other["score"] != first["score"]
    assert len(_entries()) > len(entries)  # other weights, other entries


def test_a_negative_seed_is_refused_in_one_line(k92, capsys):
    assert main(["score", MODEL, BENCHMARK, "--random-weights", "--seed", "-1"]) == 1
    assert capsys.readouterr().err.strip() == "realnet score: error: --seed must be >= 0, got -1"
