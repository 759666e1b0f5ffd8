"""The CORnet-S weights check (issue 12, section 4): a correct file is never deleted, whichever record it matches.

Digests are computed here with hashlib on the written bytes, independently of the code under test."""
from __future__ import annotations

import hashlib

import pytest
import torch

from model_registry import cornet
from model_registry.storage.download import fetch


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    """A CORnet-S checkpoint in the published layout ({'state_dict': {'module.<name>': tensor}}), random weights."""
    torch.manual_seed(0)
    network = cornet.cornet_s_network()
    path = tmp_path_factory.mktemp("weights") / "cornet_s-1d3f7974.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in network.state_dict().items()}}, path)
    return path, network


def _digests(path):
    data = path.read_bytes()
    return hashlib.sha256(data).hexdigest(), hashlib.sha1(data).hexdigest()


def test_each_record_accepts_the_file(weights_file, monkeypatch):
    path, _ = weights_file
    sha256, sha1 = _digests(path)
    monkeypatch.setattr(cornet, "CORNET_S_SHA1", sha1)
    assert cornet.verify_cornet_s_file(path) == "sha1"
    monkeypatch.setattr(cornet, "CORNET_S_SHA1", "0" * 40)
    monkeypatch.setattr(cornet, "CORNET_S_NAME_DIGITS", sha256[:8])
    assert cornet.verify_cornet_s_file(path) == "name-digits"
    monkeypatch.setattr(cornet, "CORNET_S_SHA256", sha256)
    assert cornet.verify_cornet_s_file(path) == "sha256"
    assert path.is_file()


def test_a_file_matching_no_digest_but_holding_cornet_s_is_kept_with_a_warning(weights_file, tmp_path,
                                                                               monkeypatch):
    path, network = weights_file
    assert cornet.CORNET_S_SHA1 == "a4bfd8eda33b45fd945da1b972ab0b7cad38d60f"  # Brain-Score's record
    with pytest.warns(cornet.CORnetWeightsWarning, match="holds exactly CORnet-S's tensors"):
        assert cornet.verify_cornet_s_file(path) == "structure"
    assert path.is_file()
    # the old check deleted such a file (sha256 prefix != 1d3f7974); cornet_s(pretrained=True) now loads it
    monkeypatch.setattr(cornet, "CORNET_S_URL", path.as_uri())
    monkeypatch.setattr(cornet, "fetch", lambda url, sha: fetch(url, sha, folder=tmp_path / "w", progress=False))
    with pytest.warns(cornet.CORnetWeightsWarning):
        loaded = cornet.cornet_s(pretrained=True)
    assert torch.equal(loaded.IT.conv2.weight, network.IT.conv2.weight)
    assert (tmp_path / "w" / path.name).is_file()


@pytest.mark.parametrize("content, reason", [
    (b"<html>AccessDenied</html>", "cannot read weights file"),
    ("wrong-shape", "its tensors differ from CORnet-S's"),
    ("nan", "hold NaN or infinite values"),
])
def test_a_wrong_file_is_moved_aside_not_deleted(tmp_path, content, reason):
    path = tmp_path / "cornet_s-1d3f7974.pth"
    if content == "wrong-shape":
        state = {f"module.{k}": v for k, v in cornet.cornet_s_network().state_dict().items()}
        state["module.decoder.linear.weight"] = torch.zeros(10, 512)
        torch.save({"state_dict": state}, path)
    elif content == "nan":
        state = {f"module.{k}": v for k, v in cornet.cornet_s_network().state_dict().items()}
        state["module.V1.conv1.weight"][0, 0, 0, 0] = float("nan")
        torch.save({"state_dict": state}, path)
    else:
        path.write_bytes(content)
    original = path.read_bytes()
    with pytest.raises(ValueError, match=reason) as error:
        cornet.verify_cornet_s_file(path)
    assert "\n" not in str(error.value) and "moved it to" in str(error.value)
    assert not path.exists() and (tmp_path / "cornet_s-1d3f7974.pth.rejected").read_bytes() == original
