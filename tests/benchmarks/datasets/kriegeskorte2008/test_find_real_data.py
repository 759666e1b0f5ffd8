"""The real-data lookup of the test suite (tests/conftest.py): env var, then ../shared/data, else a checked download."""
from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.datasets.kriegeskorte2008.data import SHA256
from model_registry.storage.download import DownloadError
from tests.conftest import SHARED, find_kriegeskorte2008

REAL = SHARED / "data" / "kriegeskorte2008"


@pytest.fixture
def server(tmp_path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server over a folder (a copy of the real files); yields its base URL and the folder."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", served
    finally:
        httpd.shutdown()
        httpd.server_close()


def copy_real(target: Path) -> Path:
    target.mkdir(parents=True)
    for name in SHA256:
        shutil.copy(REAL / name, target / name)
    return target


def test_env_var_wins_over_shared(tmp_path):
    copy_real(tmp_path / "mine" / "kriegeskorte2008")
    found = find_kriegeskorte2008(str(tmp_path / "mine"), SHARED, tmp_path / "unused")
    assert found == tmp_path / "mine" / "kriegeskorte2008"
    assert not (tmp_path / "unused").exists()


def test_shared_when_the_env_var_has_no_copy(tmp_path):
    assert find_kriegeskorte2008(str(tmp_path / "empty"), SHARED, tmp_path / "unused") == REAL
    assert find_kriegeskorte2008(None, SHARED, tmp_path / "unused") == REAL


def test_download_from_a_loopback_server_is_checksummed(tmp_path, server):
    base_url, served = server
    for name in SHA256:
        shutil.copy(REAL / name, served / name)
    target = tmp_path / "downloads" / "kriegeskorte2008"
    found = find_kriegeskorte2008(None, tmp_path / "no-shared", target, base_url)
    assert found == target
    for name, sha256 in SHA256.items():  # hashed here independently of the package's helper
        assert hashlib.sha256((target / name).read_bytes()).hexdigest() == sha256
    # a served file that differs from the published one is refused, and nothing is left in its place
    name = next(iter(SHA256))
    (served / name).write_bytes((REAL / name).read_bytes()[:-1] + b"x")
    other = tmp_path / "other" / "kriegeskorte2008"
    with pytest.raises(DownloadError):
        find_kriegeskorte2008(None, tmp_path / "no-shared", other, base_url)
    assert not (other / name).exists()
