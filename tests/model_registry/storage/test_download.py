import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from model_registry.storage.download import DownloadError, fetch, name_hash_prefix

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


class RangeHandler(http.server.BaseHTTPRequestHandler):
    served_ranges: list = []

    def do_GET(self):  # noqa: N802 (http.server API)
        start = 0
        if "Range" in self.headers:
            start = int(self.headers["Range"].split("=")[1].split("-")[0])
            self.send_response(206)
        else:
            self.send_response(200)
        type(self).served_ranges.append(start)
        body = PAYLOAD[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    RangeHandler.served_ranges = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_http_download_is_checked_and_cached(server, tmp_path):
    path = fetch(f"{server}/weights.pth", SHA256, folder=tmp_path, progress=False)
    assert path.read_bytes() == PAYLOAD
    again = fetch(f"{server}/weights.pth", SHA256, folder=tmp_path, progress=False)
    assert again == path and RangeHandler.served_ranges == [0]


def test_partial_download_resumes_from_where_it_stopped(server, tmp_path):
    (tmp_path / "weights.pth.part").write_bytes(PAYLOAD[:300_000])
    path = fetch(f"{server}/weights.pth", SHA256, folder=tmp_path, progress=False)
    assert path.read_bytes() == PAYLOAD
    assert RangeHandler.served_ranges == [300_000]
    assert not (tmp_path / "weights.pth.part").exists()


def test_file_urls_work_and_resume(tmp_path):
    source = tmp_path / "src" / "data.bin"
    source.parent.mkdir()
    source.write_bytes(PAYLOAD)
    target = tmp_path / "cache"
    target.mkdir()
    (target / "data.bin.part").write_bytes(PAYLOAD[:1000])
    path = fetch(source.as_uri(), SHA256, folder=target, progress=False)
    assert path.read_bytes() == PAYLOAD


def test_hash_mismatch_is_rejected_and_nothing_is_left(server, tmp_path):
    with pytest.raises(DownloadError, match="does not match"):
        fetch(f"{server}/weights.pth", "0" * 64, folder=tmp_path, progress=False)
    assert not (tmp_path / "weights.pth").exists()
    assert not (tmp_path / "weights.pth.part").exists()


def test_offline_error_names_url_and_target(tmp_path):
    url = "http://127.0.0.1:9/cornet_s-1d3f7974.pth"  # discard port: connection refused
    with pytest.raises(DownloadError) as error:
        fetch(url, None, folder=tmp_path, progress=False)
    assert url in str(error.value) and str(tmp_path / "cornet_s-1d3f7974.pth") in str(error.value)


def test_a_failed_download_leaves_no_folder_it_created_and_keeps_existing_ones(server, tmp_path):
    existing = tmp_path / "data"
    existing.mkdir()
    with pytest.raises(DownloadError, match="place the file there by hand with sha256"):
        fetch("http://127.0.0.1:9/a.mat", "1" * 64, folder=existing / "kriegeskorte2008" / "raw", progress=False)
    assert list(tmp_path.iterdir()) == [existing] and not any(existing.iterdir())
    with pytest.raises(DownloadError, match="does not match"):
        fetch(f"{server}/weights.pth", "0" * 64, folder=existing / "weights", progress=False)
    assert not any(existing.iterdir())
    with pytest.raises(DownloadError) as error:
        fetch("http://127.0.0.1:9/b.bin", None, folder=existing, progress=False)
    assert "any content" not in str(error.value) and existing.is_dir()


def test_hash_prefix_from_torchvision_style_names(tmp_path):
    assert name_hash_prefix("https://x/cornet_s-1d3f7974.pth") == "1d3f7974"
    assert name_hash_prefix("https://x/RN101.pt") is None
    source = tmp_path / f"w-{SHA256[:8]}.pth"
    source.write_bytes(PAYLOAD)
    assert fetch(source.as_uri(), None, folder=tmp_path / "c", hash_prefix=SHA256[:8], progress=False).is_file()
    bad = tmp_path / "w-00000000.pth"
    bad.write_bytes(PAYLOAD)
    with pytest.raises(DownloadError, match="expected one starting with 00000000"):
        fetch(bad.as_uri(), None, folder=tmp_path / "c", hash_prefix="00000000", progress=False)
    assert not (tmp_path / "c" / "w-00000000.pth").exists()


def test_registered_weights_load_through_the_downloader(tmp_path, monkeypatch):
    """cornet_s pulls its published file through fetch; here the URL points at a local copy of random weights."""
    import torch

    from model_registry import cornet

    network = cornet.cornet_s_network()
    state = {f"module.{k}": v for k, v in network.state_dict().items()}
    file = tmp_path / "cornet_s-test.pth"
    torch.save({"state_dict": state}, file)
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    monkeypatch.setattr(cornet, "CORNET_S_URL", file.as_uri())
    monkeypatch.setattr(cornet, "CORNET_S_SHA256", digest)
    monkeypatch.setattr(cornet, "fetch", lambda url, sha, hash_prefix=None: fetch(url, sha, progress=False))
    loaded = cornet.cornet_s(pretrained=True)
    assert torch.equal(loaded.V4.conv2.weight, network.V4.conv2.weight)
    Path(file).write_bytes(b"corrupt")
    with pytest.raises(ValueError, match="cannot read weights file"):
        cornet.load_cornet_s_weights(cornet.cornet_s_network(), file)
