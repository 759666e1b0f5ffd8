"""Faults leave nothing behind and lose nothing (issue 11, section 2).

- Disk full (a 2 MB tmpfs each test mounts and unmounts): the leaderboard names the cause and keeps its rows; a
  training checkpoint gives "no space left writing checkpoint <file>" and the previous checkpoint stays loadable.
- SIGKILL mid-write leaves a hidden temporary entry; the next process removes it. SIGTERM mid-score is handled
  like Ctrl-C: exit 143, nothing hidden left behind.
"""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from model_registry.storage.array_cache import ArrayCache
from model_registry.storage.cleanup import DiskFullError, hold, remove_stale_temps
from realnet_plugin.leaderboard.records import PairResult
from realnet_plugin.leaderboard.store import LeaderboardStore
from realnet_plugin.training.checkpoint import CHECKPOINT_KEYS, load_checkpoint, save_checkpoint

REPO = Path(__file__).resolve().parents[2]


def _fill(path: Path) -> None:
    with open(path, "wb") as handle:
        try:
            while True:
                handle.write(bytes(1 << 16))
                handle.flush()
        except OSError:
            pass


def _result(model: str, score: float, attrs: str = "{}") -> PairResult:
    return PairResult(model=model, benchmark="bench", weights_hash="w", benchmark_version="1", score=score, raw=score,
                      ceiling=1.0, attrs=attrs)


# --- disk full ------------------------------------------------------------------------------------------------
def test_leaderboard_on_a_full_disk_names_the_cause_and_keeps_its_rows(small_disk):
    db = small_disk / "board.sqlite"
    with LeaderboardStore(db) as store:
        store.record(_result("m1", 0.5))
        _fill(small_disk / "filler")
        with pytest.raises(DiskFullError) as caught:
            store.record(_result("m2", 0.7, attrs=json.dumps({"big": "x" * 1_500_000})))
    message = str(caught.value)
    assert message.startswith(f"no space left under {small_disk}: could not store the result of m2 on bench")
    assert "board.sqlite; it is intact (1 stored results, integrity check ok)" in message
    assert "not a usable" not in message and "\n" not in message
    (small_disk / "filler").unlink()
    with sqlite3.connect(db) as connection:  # read by plain sqlite3, not the store
        assert connection.execute("SELECT model, score, status FROM results").fetchall() == [("m1", 0.5, "ok")]
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with LeaderboardStore(db) as store:  # usable again once there is space
        assert store.record(_result("m2", 0.7)) and len(store) == 2


def test_new_leaderboard_on_a_full_disk_leaves_no_file(small_disk):
    _fill(small_disk / "filler")
    with pytest.raises(DiskFullError, match=f"no space left under {small_disk}: could not create the leaderboard "
                                            "database new.sqlite; no database file was created"):
        LeaderboardStore(small_disk / "new.sqlite")
    assert sorted(os.listdir(small_disk)) == ["filler"]


def _payload(values: torch.Tensor) -> dict:
    payload = {key: {} for key in CHECKPOINT_KEYS if key not in ("format", "version")}
    payload.update(epoch=1, model={"w": values}, log=[], best=None)
    return payload


def test_checkpoint_on_a_full_disk_keeps_the_previous_one(small_disk):
    path = small_disk / "checkpoint.pt"
    first = torch.arange(50_000, dtype=torch.float32)  # 200 KB
    save_checkpoint(path, _payload(first.clone()))
    with pytest.raises(DiskFullError) as caught:
        save_checkpoint(path, _payload(torch.ones(600_000)))  # 2.4 MB: more than the disk holds
    message = str(caught.value)
    assert message.startswith(f"no space left writing checkpoint {path} (")
    assert message.endswith("the previous checkpoint checkpoint.pt is intact")
    assert "inline_container" not in message and "enforce fail" not in message
    assert os.listdir(small_disk) == ["checkpoint.pt"]  # no temporary file left
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.arange(50_000, dtype=torch.float32))


# --- SIGKILL: stale temporary entries are removed by the next process ---------------------------------------------
def _python(script: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})}, **kwargs)


def _wait_for(path: Path, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"the child exited ({process.returncode}) early: {process.stderr.read()[-3000:]}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"the child never reached {path.name}")
        time.sleep(0.05)


def _hidden(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob(".*"))


def test_checkpoint_temp_left_by_sigkill_is_removed_by_the_next_run(tmp_path):
    out, ready = tmp_path / "run", tmp_path / "ready"
    out.mkdir()
    child = _python(f"""
        import time
        from pathlib import Path
        import torch
        from realnet_plugin.training.checkpoint import CHECKPOINT_KEYS, save_checkpoint

        class Stall:  # pickled mid-way through torch.save: the temporary file is half-written
            def __reduce__(self):
                Path({str(ready)!r}).touch()
                time.sleep(120)
                return (int, (0,))

        payload = {{key: {{}} for key in CHECKPOINT_KEYS if key not in ("format", "version")}}
        payload.update(model={{"w": torch.ones(1000)}}, log=[Stall()])
        save_checkpoint(Path({str(out / "checkpoint.pt")!r}), payload)
    """)
    _wait_for(ready, child)
    child.kill()  # SIGKILL: no cleanup can run
    child.wait()
    left = _hidden(out)
    assert len(left) == 1 and left[0].name.startswith(".checkpoint.pt.") and ".tmp" in left[0].name, left
    time.sleep(0.05)
    resumed = _python(f"""
        import torch
        from pathlib import Path
        from realnet_plugin.training.checkpoint import load_checkpoint
        try:
            load_checkpoint(Path({str(out / "checkpoint.pt")!r}))
        except Exception as error:
            print(error)
    """)
    stdout, stderr = resumed.communicate(timeout=120)
    assert "no checkpoint to resume from" in stdout, stderr
    assert _hidden(out) == [] and os.listdir(out) == []


def test_activation_entry_left_by_sigkill_is_removed_when_the_cache_is_opened(tmp_path, image_files):
    assert all(path.parent == tmp_path for path in image_files)
    home, ready = tmp_path / "home", tmp_path / "ready"
    script = f"""
        import time
        from pathlib import Path
        import torch
        from model_registry.extractor import ActivationsExtractor

        class Stall(torch.nn.Module):
            calls = 0
            def forward(self, x):
                Stall.calls += len(x) != 3  # not the 3-image call that confirms the image axis of a batch of 2
                if Stall.calls == 2 and STALL:  # the second batch: the entry's data file is being written
                    Path({str(ready)!r}).touch()
                    time.sleep(120)
                return x

        torch.manual_seed(0)
        network = torch.nn.Sequential(torch.nn.Conv2d(3, 5, 3), Stall())
        images = sorted(Path({str(tmp_path)!r}).glob("stim_*.jpg"))
        values = ActivationsExtractor(network, batch_size=2, progress=False)(images, ["1"]).values
        print(float(abs(values).sum()))
    """
    child = _python("STALL = True\n" + textwrap.dedent(script), env={"REALNET_HOME": str(home)})
    _wait_for(ready, child)
    child.kill()
    child.wait()
    cache = home / "cache" / "activations"
    left = _hidden(cache)
    assert len(left) >= 1 and any((entry / "data.npy").is_file() for entry in left), left
    time.sleep(0.05)
    again = _python("STALL = False\n" + textwrap.dedent(script), env={"REALNET_HOME": str(home)})
    stdout, stderr = again.communicate(timeout=300)
    assert again.returncode == 0, stderr[-3000:]
    assert _hidden(cache) == []  # the stale half-built entry is gone, the new entry is published
    assert len(list(cache.glob("*/*/data.npy"))) == 1


def test_array_cache_open_removes_old_unheld_temps_only(tmp_path):
    root = tmp_path / "arrays"
    shard = root / "ab"
    shard.mkdir(parents=True)
    old_temp, young_temp, held_temp = (shard / f".{'ab' * 32}.npz.{tag}.tmp.npz" for tag in ("old", "young", "held"))
    for temp in (old_temp, young_temp, held_temp):
        temp.write_bytes(b"partial")
    past = time.time() - 3600
    os.utime(old_temp, (past, past))
    os.utime(held_temp, (past, past))
    with hold(held_temp):  # as atomic_path does while its writer writes
        ArrayCache("test-kind", root=root)
        assert sorted(p.name for p in shard.iterdir()) == sorted([young_temp.name, held_temp.name])
    assert remove_stale_temps([held_temp, young_temp]) == [held_temp]  # released: now stale; young: this run's
    assert young_temp.exists()


# --- SIGTERM mid-score ------------------------------------------------------------------------------------------
def test_sigterm_mid_score_leaves_nothing(tmp_path):
    from benchmarks.datasets.things_eeg2.synth import generate_things_eeg2

    root = generate_things_eeg2(tmp_path / "eeg", n_subjects=2, n_test_images=12, n_test_repetitions=4,
                                n_train_concepts=2, n_train_per_concept=2, n_train_repetitions=2, image_size=32,
                                progress=False)
    home, ready = tmp_path / "home", tmp_path / "ready"
    child = _python(f"""
        import sys, time
        from pathlib import Path
        import torch
        from benchmarks.datasets.things_eeg2.synth import RandomConvFeatures
        from model_registry import Preprocessing, register_model
        from realnet_plugin.cli import main

        class Stall(torch.nn.Module):
            calls = 0
            def forward(self, x):
                Stall.calls += len(x) != 3  # not the 3-image call that confirms the image axis of a batch of 2
                if Stall.calls == 2:  # mid-extraction: a half-built cache entry exists
                    Path({str(ready)!r}).touch()
                    time.sleep(120)
                return x

        def build(pretrained):
            return torch.nn.Sequential(RandomConvFeatures(seed=0).network, Stall())

        register_model("test_faults_stall", family="test", layers=("0.7",), region_layer_map={{"IT": "0.7"}},
                       preprocessing=Preprocessing(image_size=64, mean=(0.5,) * 3, std=(1.0,) * 3))(build)
        sys.exit(main(["score", "test_faults_stall", "things-eeg-rsa-correlation", "--batch-size", "4",
                       "--option", 'root="{root}"', "--option", "n_permutations=10"]))
    """, env={"REALNET_HOME": str(home)})
    _wait_for(ready, child, seconds=240)
    assert _hidden(home), "no half-built entry existed when the signal was sent"
    child.send_signal(signal.SIGTERM)
    stdout, stderr = child.communicate(timeout=120)
    assert child.returncode == 143, stderr[-3000:]
    assert stderr.strip().splitlines()[-1] == "terminated"
    assert _hidden(home) == []
    assert not list(home.rglob("data.npy")) and not list(home.rglob("*.tmp*"))
