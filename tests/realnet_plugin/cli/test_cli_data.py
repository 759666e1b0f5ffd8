"""``realnet data synth`` for every dataset (read back by each dataset's own validating loader) and
``realnet data fetch`` (a local HTTP server serving the real Kriegeskorte 2008 files; sha256 checked)."""
import functools
import http.server
import shutil
import threading

import pytest

from benchmarks.datasets.kriegeskorte2008 import data as kriegeskorte
from benchmarks.datasets.kriegeskorte2008.data import load_kriegeskorte2008
from benchmarks.datasets.shen2019.data import load_shen2019
from benchmarks.datasets.things_eeg2.data import load_image_metadata, load_subject
from benchmarks.datasets.things_fmri.data import load_things_fmri
from model_registry.storage.download import file_sha256
from realnet_plugin.cli import main


def test_synth_every_dataset_in_its_official_layout(tmp_path, capsys):
    out = {name: tmp_path / name for name in ("things-eeg2", "kriegeskorte2008", "shen2019", "things-fmri")}
    assert main(["data", "synth", "things-eeg2", "--out", str(out["things-eeg2"]), "--subjects", "1",
                 "--test-images", "6", "--train-concepts", "2", "--train-per-concept", "2",
                 "--test-repetitions", "4", "--image-size", "16"]) == 0
    assert main(["data", "synth", "kriegeskorte2008", "--out", str(out["kriegeskorte2008"]), "--seed", "3"]) == 0
    assert main(["data", "synth", "shen2019", "--out", str(out["shen2019"]), "--subjects", "2"]) == 0
    assert main(["data", "synth", "things-fmri", "--out", str(out["things-fmri"]), "--subjects", "1"]) == 0
    printed = capsys.readouterr().out
    assert "wrote synthetic shen2019 (2 subjects)" in printed and "wrote synthetic things-fmri (1 subjects)" in printed

    assert len(load_image_metadata(out["things-eeg2"]).test_files) == 6
    assert load_subject(1, "test", out["things-eeg2"]).data.shape[:2] == (6, 4)
    assert load_kriegeskorte2008(out["kriegeskorte2008"], download=False, verify_hash=False).rdms.shape == \
        (4, 2, 92, 92)
    assert list(load_shen2019(out["shen2019"], subjects=("01", "02"), progress=False).patterns) == ["sub-01", "sub-02"]
    fmri = load_things_fmri(out["things-fmri"], subjects=("01",), progress=False, cache=False)
    assert list(fmri.patterns) == ["sub-01"]

    assert main(["data", "synth", "shen2019", "--out", str(out["shen2019"])]) == 1
    assert "not empty" in capsys.readouterr().err
    assert main(["data", "synth", "kriegeskorte2008", "--out", str(tmp_path / "k2"), "--subjects", "3"]) == 1
    assert "4 subjects x 2 sessions by design" in capsys.readouterr().err


@pytest.fixture
def served(kriegeskorte2008_dir):
    folder = kriegeskorte2008_dir
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_fetch_downloads_and_checks_every_file(tmp_path, served, monkeypatch, capsys):
    folder, url = served
    monkeypatch.setattr(kriegeskorte, "BASE_URL", url)
    target = tmp_path / "k92"
    assert main(["data", "fetch", "kriegeskorte2008", "--out", str(target), "--no-progress"]) == 0
    assert "3 files checked (sha256)" in capsys.readouterr().out
    for name, sha256 in kriegeskorte.SHA256.items():
        assert file_sha256(target / name) == sha256 == file_sha256(folder / name)
    assert load_kriegeskorte2008(target, download=False).rdms.shape == (4, 2, 92, 92)

    shutil.copy(folder / "92_modelRDMs.mat", target / "92_brainRDMs.mat")  # a damaged copy is named, not used
    assert main(["data", "fetch", "kriegeskorte2008", "--out", str(target), "--no-progress"]) == 1
    assert "92_brainRDMs.mat: sha256" in capsys.readouterr().err

    assert main(["data", "fetch", "things-eeg2"]) == 1
    err = capsys.readouterr().err
    assert "things-eeg2 cannot be fetched here" in err and "preprocessed_data/sub-XX/" in err
    assert main(["data", "fetch", "imagenet"]) == 1
    assert "unknown dataset 'imagenet'; fetchable: kriegeskorte2008" in capsys.readouterr().err
