"""``realnet cache list|size|prune`` over entries written by the real caches (activation folders, array .npz files,
downloaded weights), with sizes and ages computed here from the files themselves."""
import fcntl
import os
import time
from pathlib import Path

import numpy as np
import pytest

from model_registry.storage.activation_cache import ActivationCache, rows_checksum
from model_registry.storage.array_cache import ArrayCache
from realnet_plugin.cli import main
from realnet_plugin.cli.cache import cache_entries, parse_age, parse_size, select_prune

DAY = 86400


def _activation(cache: ActivationCache, key: str, rows: int) -> Path:
    building = cache.new_entry(key)
    data = np.arange(rows * 50, dtype=np.float32).reshape(rows, 50)
    np.save(building / "data.npy", data)
    return cache.commit(key, building, {"shape": list(data.shape), "checksum": rows_checksum(data)})


def _age(path: Path, days: float) -> None:
    stamp = time.time() - days * DAY
    for item in [path, *path.rglob("*")] if path.is_dir() else [path]:
        os.utime(item, (stamp, stamp))


def _du(paths) -> int:
    return sum(p.stat().st_size if p.is_file() else sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
               for p in paths)


@pytest.fixture
def filled(realnet_home):
    acts = ActivationCache()
    old_act = _activation(acts, "aa" + "1" * 30, 40)
    new_act = _activation(acts, "bb" + "2" * 30, 10)
    with acts.lock("cc" + "3" * 30):  # leaves the lock file, as real extractions do
        busy_act = _activation(acts, "cc" + "3" * 30, 5)
    rdms = ArrayCache("rdms")
    rdm = rdms.store("dd" + "4" * 30, {"rdm": np.ones((20, 20))})
    weights = realnet_home / "weights" / "net-12345678.pth"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"w" * 3000)
    (realnet_home / "models" / "realnet_s01_b10").mkdir(parents=True)  # trained models: never a cache entry
    (realnet_home / "models" / "realnet_s01_b10" / "model.pt").write_bytes(b"m" * 100)
    ages = {old_act: 40, new_act: 1, busy_act: 50, rdm: 20, weights: 10}
    for path, days in ages.items():
        _age(path, days)
    return {"old": old_act, "new": new_act, "busy": busy_act, "rdm": rdm, "weights": weights}


def test_entries_and_sizes(filled, capsys):
    entries = {e.path: e for e in cache_entries()}
    assert set(entries) == set(filled.values())
    for path in filled.values():
        assert entries[path].size == _du([path])
    assert entries[filled["weights"]].kind == "weights" and entries[filled["rdm"]].kind == "rdms"
    assert main(["cache", "size"]) == 0
    out = capsys.readouterr().out
    assert "activations" in out and "     3 entries" in out and "total                 5 entries" in out
    with pytest.raises(ValueError, match="no cache kind nope"):
        cache_entries(["nope"])


def test_prune_older_than_and_max_size(filled, capsys):
    acts = ActivationCache()
    with open(filled["busy"].parent / f"{filled['busy'].name}.lock", "a+") as handle:  # another process's lock
        fcntl.flock(handle, fcntl.LOCK_EX)
        assert main(["cache", "prune", "--older-than", "15d"]) == 0
    out = capsys.readouterr().out
    assert "removed 2 entries" in out and "1 in use left alone" in out
    assert filled["busy"].is_dir() and not filled["old"].exists() and not filled["rdm"].exists()
    assert filled["new"].is_dir() and filled["weights"].is_file()
    assert acts.load("bb" + "2" * 30) is not None  # what is kept still verifies

    remaining = [filled["busy"], filled["new"], filled["weights"]]
    limit = _du([filled["new"]]) + 10  # keeps only the newest entry
    assert main(["cache", "prune", "--max-size", str(limit), "--dry-run"]) == 0
    assert "would remove 2 entries" in capsys.readouterr().out and all(p.exists() for p in remaining)
    assert main(["cache", "prune", "--max-size", str(limit)]) == 0
    assert not filled["busy"].exists() and not filled["weights"].exists() and filled["new"].is_dir()
    assert _du([e.path for e in cache_entries()]) <= limit
    assert (Path(os.environ["REALNET_HOME"]) / "models" / "realnet_s01_b10" / "model.pt").is_file()
    assert main(["cache", "prune"]) == 1
    assert "needs --older-than" in capsys.readouterr().err


def test_selection_rules():
    from realnet_plugin.cli.cache import CacheEntry

    entries = [CacheEntry("a", Path(f"/x/{i}"), size, mtime) for i, (size, mtime) in
               enumerate([(100, 10.0), (50, 30.0), (70, 20.0)])]
    assert [e.path.name for e in select_prune(entries, max_size=60, now=40)] == ["0", "2"]
    assert [e.path.name for e in select_prune(entries, older_than=15, now=40)] == ["0", "2"]
    assert [e.path.name for e in select_prune(entries, older_than=25, max_size=100, now=40)] == ["0", "2"]
    assert select_prune(entries, max_size=1000, now=40) == []
    assert parse_size("500M") == 500 * 1024 ** 2 and parse_size("1.5k") == 1536 and parse_age("12h") == 43200
    with pytest.raises(ValueError, match="--max-size expects"):
        parse_size("lots")
    with pytest.raises(ValueError, match="--older-than expects"):
        parse_age("7 years")
