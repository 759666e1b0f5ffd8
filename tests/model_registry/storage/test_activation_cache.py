"""Activation cache: the extraction code version is in every key; meta.json is checksummed like the data."""
from __future__ import annotations

import hashlib
import json
import logging

import numpy as np
import pytest
import torch
import torchvision

from model_registry import ActivationsExtractor, layer_blocks
from model_registry.storage import activation_cache
from model_registry.storage.activation_cache import ActivationCache, cache_key

LAYERS = ["layer4", "fc"]


@pytest.fixture
def resnet():
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None).eval()


def test_cache_key_adds_the_extraction_code_version(monkeypatch):
    parts = {"weights": "w", "layers": "[\"fc\"]"}
    text = json.dumps({"format": activation_cache.FORMAT_VERSION, **parts,
                       "code_version": activation_cache.EXTRACTION_CODE_VERSION}, sort_keys=True)
    assert cache_key(**parts) == hashlib.sha256(text.encode()).hexdigest()
    before = cache_key(**parts)
    monkeypatch.setattr(activation_cache, "EXTRACTION_CODE_VERSION", activation_cache.EXTRACTION_CODE_VERSION + 1)
    assert cache_key(**parts) != before
    assert cache_key(**parts, code_version=activation_cache.EXTRACTION_CODE_VERSION - 1) == before


def test_a_code_version_bump_recomputes_instead_of_serving_old_activations(resnet, image_files, monkeypatch):
    calls = []
    # full batches only: a one-batch run also calls the network on 2 images to confirm each layer's image axis
    resnet.register_forward_hook(lambda module, inputs, output: calls.append(1) if len(inputs[0]) == 6 else None)
    extractor = ActivationsExtractor(resnet, batch_size=6, progress=False)
    first = extractor(image_files, ["fc"]).values.copy()
    extractor(image_files, ["fc"])
    assert calls == [1]
    monkeypatch.setattr(activation_cache, "EXTRACTION_CODE_VERSION", activation_cache.EXTRACTION_CODE_VERSION + 1)
    np.testing.assert_array_equal(extractor(image_files, ["fc"]).values, first)
    assert calls == [1, 1]
    assert len(list(ActivationCache().root.glob("*/*/meta.json"))) == 2


def test_an_edited_meta_json_is_detected_and_recomputed(resnet, image_files, caplog):
    extractor = ActivationsExtractor(resnet, batch_size=6, progress=False)
    expected = ActivationsExtractor(resnet, batch_size=6, progress=False, cache=False)(image_files, LAYERS).values
    extractor(image_files, LAYERS)
    (meta_file,) = ActivationCache().root.glob("*/*/meta.json")
    meta = json.loads(meta_file.read_text())
    meta["blocks"][0]["stop"] -= 1  # valid JSON, wrong layout: layer1 would lose its last column
    meta["blocks"][1]["start"] -= 1
    meta_file.write_text(json.dumps(meta))
    with caplog.at_level(logging.WARNING):
        again = extractor(image_files, LAYERS)
    assert "meta.json fails its checksum" in caplog.text
    np.testing.assert_allclose(again.values, expected, atol=1e-6)
    blocks = layer_blocks(again)
    assert {layer: blocks[layer].shape for layer in LAYERS} == {"layer4": (6, 512 * 7 * 7), "fc": (6, 1000)}
