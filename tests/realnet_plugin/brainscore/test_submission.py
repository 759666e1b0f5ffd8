import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import brainscore_vision
import pytest
import yaml

from model_registry.storage.fingerprint import weights_hash
from model_registry.storage.safe_zip import UnsafeArchiveError, check_archive, safe_extract, write_zip
from realnet_plugin import load_model
from realnet_plugin.brainscore.submission import (
    benchmark_plugin_files,
    load_submitted_benchmark,
    load_submitted_model,
    model_plugin_files,
    plugin_dirname,
)
from realnet_plugin.cli import main

REPO = Path(__file__).resolve().parents[3]
MODEL = "efficientnet_lite0"
BENCHMARK_AS = "fgsm-robustness-realnet-builtin"
BENCHMARK_OPTIONS = {"images": "builtin", "epsilons": [0, 0.0078], "progress": False}


# --- safe_zip ------------------------------------------------------------------------------------------------------
def _zip(path: Path, members: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for info, content in members:
            archive.writestr(info, content)
    return path


def _symlink(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


def _fifo(name: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFIFO | 0o644) << 16
    return info, b""


@pytest.mark.parametrize("bad_member, message", [
    (("/etc/evil.txt", b"x"), "member '/etc/evil.txt' has an absolute path"),
    (("C:/windows/evil.txt", b"x"), "member 'C:/windows/evil.txt' has an absolute path"),
    (("data/../../evil.txt", b"x"), r"member 'data/../../evil.txt' has a '\.\.' component"),
    (("data\\..\\evil.txt", b"x"), r"has a '\.\.' component"),
    (_symlink("data/link", "/etc/passwd"), "member 'data/link' is a symbolic link"),
    (_fifo("data/pipe"), "member 'data/pipe' is a special file"),
    (("DATA/good.txt", b"dup"), "member 'DATA/good.txt' duplicates 'data/good.txt'"),
    (("data/good.txt/inner", b"x"), "member 'data/good.txt/inner' lies under the file 'data/good.txt'"),
])
def test_unsafe_members_are_rejected_and_nothing_is_extracted(tmp_path, bad_member, message):
    archive = _zip(tmp_path / "bad.zip", [("data/good.txt", b"fine"), bad_member])
    dest = tmp_path / "out"
    with pytest.raises(UnsafeArchiveError, match=message):
        safe_extract(archive, dest)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.zip"]  # no dest, no staging folder
    assert not Path("/etc/evil.txt").exists()


def test_size_and_count_limits(tmp_path):
    archive = _zip(tmp_path / "big.zip", [("a.bin", b"0" * 600), ("b.bin", b"0" * 600)])
    with pytest.raises(UnsafeArchiveError, match="member 'b.bin' brings the uncompressed size to 1200 bytes, above "
                                                 "the limit of 1000"):
        safe_extract(archive, tmp_path / "out", max_total_bytes=1000)
    with pytest.raises(UnsafeArchiveError, match="has 2 members, more than the limit of 1"):
        safe_extract(archive, tmp_path / "out", max_members=1)
    assert not (tmp_path / "out").exists()
    assert [rel.as_posix() for _, rel in check_archive(archive)] == ["a.bin", "b.bin"]
    with pytest.raises(FileNotFoundError, match="missing.zip does not exist"):
        safe_extract(tmp_path / "missing.zip", tmp_path / "out")
    (tmp_path / "text.zip").write_text("not a zip")
    with pytest.raises(ValueError, match="text.zip is not a zip archive"):
        safe_extract(tmp_path / "text.zip", tmp_path / "out")


def test_lying_size_headers_are_caught_while_extracting(tmp_path):
    archive = _zip(tmp_path / "bomb.zip", [("bomb.bin", b"\0" * 50_000)])
    raw = bytearray(archive.read_bytes())  # shrink the declared sizes in both headers to 10 bytes
    with zipfile.ZipFile(archive) as z:
        info = z.infolist()[0]
    local = info.header_offset
    raw[local + 22:local + 26] = (10).to_bytes(4, "little")
    central = raw.rindex(b"PK\x01\x02")
    raw[central + 24:central + 28] = (10).to_bytes(4, "little")
    archive.write_bytes(bytes(raw))
    with pytest.raises((UnsafeArchiveError, zipfile.BadZipFile)):
        safe_extract(archive, tmp_path / "out", max_total_bytes=1000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.zip"]


def test_extract_merges_into_folders_but_never_overwrites(tmp_path):
    archive = write_zip({"models/new/__init__.py": "x = 1\n", "models/new/data.bin": b"\x00\x01"}, tmp_path / "a.zip")
    dest = tmp_path / "library"
    (dest / "models" / "old").mkdir(parents=True)
    extracted = safe_extract(archive, dest)
    assert extracted == [dest / "models/new/__init__.py", dest / "models/new/data.bin"]
    assert (dest / "models/new/data.bin").read_bytes() == b"\x00\x01" and (dest / "models/old").is_dir()
    (dest / "models/new/__init__.py").write_text("changed\n")
    with pytest.raises(FileExistsError, match="__init__.py already exists"):
        safe_extract(archive, dest)
    assert (dest / "models/new/__init__.py").read_text() == "changed\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip", "library"]


def test_zips_are_written_atomically_and_reproducibly(tmp_path):
    files = {"b.txt": "second", "a/one.txt": "first"}
    first = write_zip(files, tmp_path / "one.zip").read_bytes()
    second = write_zip(dict(reversed(files.items())), tmp_path / "two.zip").read_bytes()
    assert first == second
    with zipfile.ZipFile(tmp_path / "one.zip") as archive:
        assert archive.namelist() == ["a/one.txt", "b.txt"] and archive.read("b.txt") == b"second"
    with pytest.raises(ValueError, match="'../escape.txt' must be a relative path"):
        write_zip({"ok.txt": "x", "../escape.txt": "y"}, tmp_path / "three.zip")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.zip", "two.zip"]


# --- plugin files ----------------------------------------------------------------------------------------------------
def test_plugin_names_and_refusals():
    assert plugin_dirname("timm:resnet-50") == "timm_resnet_50" and plugin_dirname("3dnet") == "plugin_3dnet"
    with pytest.raises(ValueError, match="options change the benchmark 'fgsm-robustness'"):
        benchmark_plugin_files("fgsm-robustness", options={"images": "builtin"})
    with pytest.raises(ValueError, match="'pgd-robustness' is already a realnet-plugin benchmark id"):
        benchmark_plugin_files("fgsm-robustness", brainscore_id="pgd-robustness", options={"images": "builtin"})
    with pytest.raises(ValueError, match="already registered by brainscore_vision/benchmarks/rajalingham2018"):
        benchmark_plugin_files("fgsm-robustness", brainscore_id="Rajalingham2018-i2n", options={"images": "builtin"})
    with pytest.raises(ValueError, match="no quotes"):
        benchmark_plugin_files("fgsm-robustness", brainscore_id="bad'id", options={"images": "builtin"})


def test_submitted_loaders_check_weights_and_versions():
    model = load_submitted_model(MODEL, weights_sha256=weights_hash(load_model(MODEL).network))
    assert model.identifier == MODEL
    with pytest.raises(RuntimeError, match="submitted with 0000"):
        load_submitted_model(MODEL, weights_sha256="0" * 64)
    renamed = load_submitted_benchmark("fgsm-robustness", options={"images": "builtin"}, version="1",
                                       identifier=BENCHMARK_AS)
    assert renamed.identifier == BENCHMARK_AS and renamed.version == 1 and renamed.images == "builtin"
    with pytest.raises(RuntimeError, match="submitted with version 7"):
        load_submitted_benchmark("fgsm-robustness", version="7")


@pytest.fixture(scope="module")
def brainscore_copy(tmp_path_factory) -> Path:
    """A copy of the installed brainscore_vision package (put first on sys.path by the subprocesses)."""
    root = tmp_path_factory.mktemp("brainscore_copy")
    shutil.copytree(Path(brainscore_vision.__file__).parent, root / "brainscore_vision",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return root


def _run_in_copy(copy: Path, args: list[str], home: Path) -> subprocess.CompletedProcess:
    # the Brain-Score copy first, then this repository: the code under test, not whatever `pip install -e` points at
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(copy), str(REPO)]), "BS_INSTALL_DEPENDENCIES": "no",
           "REALNET_HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, *args], cwd=copy, env=env, capture_output=True, text=True, timeout=300)


LOOKUP_CHECK = """
import sys
sys.path.insert(0, {copy!r})
import brainscore_vision
from brainscore_core.plugin_management.import_plugin import ImportPlugin

assert brainscore_vision.__file__.startswith({copy!r}), brainscore_vision.__file__
assert not any(name in sys.modules for name in ("model_registry", "benchmarks", "realnet_plugin"))
for plugin_type, identifier, loader in (("models", {model!r}, brainscore_vision.load_model),
                                        ("benchmarks", {benchmark!r}, brainscore_vision.load_benchmark)):
    plugin = ImportPlugin("brainscore_vision", plugin_type, identifier).plugin_dirname
    loaded = loader(identifier)
    modules = sorted(m for m in sys.modules if m.startswith(f"brainscore_vision.{{plugin_type}}.{{plugin}}"))
    print(plugin_type, plugin, loaded.identifier, type(loaded).__name__, *modules)
    if plugin_type == "benchmarks":
        print("options", loaded.version, loaded.epsilons, loaded.images)
"""


def test_submissions_are_found_by_brainscore_and_their_tests_pass(tmp_path, brainscore_copy, realnet_home, capsys):
    model_zip, bench_zip = tmp_path / "model.zip", tmp_path / "benchmark.zip"
    assert main(["submit", MODEL, "--out", str(model_zip)]) == 0
    assert main(["submit", "--benchmark", "fgsm-robustness", "--as", BENCHMARK_AS, "--reference-model", MODEL,
                 "--out", str(bench_zip)] + [f"--option={k}={v}" for k, v in
                                             {"images": '"builtin"', "epsilons": "[0, 0.0078]",
                                              "progress": "false"}.items()]) == 0
    assert f"wrote {model_zip} (8 files" in capsys.readouterr().out
    library = brainscore_copy / "brainscore_vision"
    extracted = safe_extract(bench_zip, library)
    model_dir, bench_dir = library / "models" / MODEL, library / "benchmarks" / plugin_dirname(BENCHMARK_AS)
    # the benchmark's test.py first: its reference model resolves through realnet-plugin's bridge (the white-box
    # robustness benchmark cannot attack the submitted ModelCommitment, which Brain-Score finds once extracted)
    tests = _run_in_copy(brainscore_copy, ["-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir",
                                           str(brainscore_copy), str(bench_dir / "test.py")], realnet_home)
    assert tests.returncode == 0, tests.stdout[-4000:]
    assert tests.stdout.strip().splitlines()[-1].startswith("4 passed")  # lookup, identity, version, reference
    extracted += safe_extract(model_zip, library)
    assert {p.name for p in extracted} == {"__init__.py", "model.py", "network.py", "weights.json", f"{MODEL}.json",
                                           "benchmark.py", "test.py", "requirements.txt", "metadata.yaml"}
    assert "realnet" not in (model_dir / "requirements.txt").read_text()  # self-contained: PyPI packages only
    assert (bench_dir / "requirements.txt").read_text().splitlines()[0] == "realnet-plugin==0.1.0"
    registrations = [line for line in (model_dir / "__init__.py").read_text().splitlines() if "_registry[" in line]
    assert registrations == [f"model_registry['{MODEL}'] = lambda: ModelCommitment("]
    assert f"benchmark_registry['{BENCHMARK_AS}'] = " in (bench_dir / "__init__.py").read_text()
    metadata = yaml.safe_load((model_dir / "metadata.yaml").read_text())["models"][MODEL]
    network = load_model(MODEL).network
    assert metadata["model"]["parameter_count"] == sum(p.numel() for p in network.parameters())
    assert metadata["model"]["version"] == f"tensors-sha256:{weights_hash(network)[:16]}"
    bench_meta = yaml.safe_load((bench_dir / "metadata.yaml").read_text())["benchmarks"][BENCHMARK_AS]
    notes = bench_meta["data"]["extra_notes"]
    assert json.dumps(BENCHMARK_OPTIONS, sort_keys=True) in notes and f"; {MODEL} scored " in notes

    # Brain-Score's own lookup (grep of the copy's plugin folders) finds and imports the generated plugins
    lookup = _run_in_copy(brainscore_copy, ["-c", LOOKUP_CHECK.format(copy=str(brainscore_copy), model=MODEL,
                                                                      benchmark=BENCHMARK_AS)], realnet_home)
    assert lookup.returncode == 0, lookup.stderr[-3000:]
    assert lookup.stdout.splitlines() == [
        f"models {MODEL} {MODEL} ModelCommitment brainscore_vision.models.{MODEL} "
        f"brainscore_vision.models.{MODEL}.model brainscore_vision.models.{MODEL}.network",
        f"benchmarks {bench_dir.name} {BENCHMARK_AS} SubmittedBenchmark brainscore_vision.benchmarks.{bench_dir.name} "
        f"brainscore_vision.benchmarks.{bench_dir.name}.benchmark",
        "options 1 (0.0, 0.0078) builtin"]

    # the plugins' own test.py files pass under pytest with the copy first on sys.path
    tests = _run_in_copy(brainscore_copy, ["-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir",
                                           str(brainscore_copy), str(model_dir / "test.py")], realnet_home)
    assert tests.returncode == 0, tests.stdout[-4000:]
    summary = tests.stdout.strip().splitlines()[-1]
    assert "passed" in summary and "failed" not in summary and "skipped" not in summary
    assert int(summary.split(" passed")[0].split()[-1]) == 3  # the model plugin's own checks
    assert "test_reference_score" in (bench_dir / "test.py").read_text()
    assert textwrap.dedent("""
        def test_network_has_the_published_tensors():""") in (model_dir / "test.py").read_text()


def test_submit_writes_a_folder_and_refuses_to_replace_it(tmp_path, capsys):
    out = tmp_path / "plugin"
    assert main(["submit", MODEL, "--out", str(out), "--no-pin"]) == 0
    files = model_plugin_files(MODEL, pin_weights=False)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == sorted(files)
    weights = json.loads((out / "models" / MODEL / "weights.json").read_text())["files"][MODEL]
    assert weights["tensors_sha256"] is None and weights["sha256"].startswith("57934424")
    assert main(["submit", MODEL, "--out", str(out), "--no-pin"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["submit", MODEL, "--out", str(tmp_path / "x.zip"), "--reference-model", MODEL]) == 1
    assert "apply to --benchmark submissions only" in capsys.readouterr().err
    assert main(["submit", "cornet_zz", "--out", str(tmp_path / "y.zip")]) == 1
    assert "Did you mean: cornet_s" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plugin"]
