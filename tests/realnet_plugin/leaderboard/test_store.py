import multiprocessing
import sqlite3
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

import pytest

from realnet_plugin.leaderboard import LeaderboardStore, PairResult, default_db_path


def _result(model="m", benchmark="b", status="ok", score=0.5, **changes) -> PairResult:
    base = PairResult(model=model, benchmark=benchmark, weights_hash="h" * 64, benchmark_version="1",
                      options='{"k":1}', status=status, score=score if status == "ok" else None,
                      raw=0.4 if status == "ok" else None, ceiling=0.8 if status == "ok" else None,
                      message=None if status == "ok" else "boom", seconds=1.5, attrs='{"x": [1, 2]}')
    return replace(base, **changes)


def test_store_uses_wal_and_round_trips_rows(tmp_path, realnet_home):
    path = tmp_path / "lb.sqlite"
    with LeaderboardStore(path) as store:
        stored = _result(ci_low=0.3, ci_high=0.7, error=0.05, pretrained=False)
        assert store.record(stored) is True
        assert store.get(stored.key) == stored
        assert store.results() == [stored] and store.results(models=["other"]) == []
        assert store.has_ok(stored.key) and len(store) == 1
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        indexes = raw.execute("PRAGMA index_list(results)").fetchall()
        unique = [i[1] for i in indexes if i[2] == 1]
        columns = {tuple(r[2] for r in raw.execute(f"PRAGMA index_info('{name}')")) for name in unique}
    # keyed by what the model computes (its fingerprint), not by the weights hash alone
    assert ("model", "model_fingerprint", "benchmark", "benchmark_version", "options") in columns
    assert default_db_path() == realnet_home / "leaderboard.sqlite"


def test_ok_rows_win_over_errors_and_errors_are_replaced(tmp_path):
    with LeaderboardStore(tmp_path / "lb.sqlite") as store:
        failure = _result(status="error")
        store.record(failure)
        assert store.get(failure.key).status == "error" and not store.has_ok(failure.key)
        success = _result(score=0.7)
        assert store.record(success) is True
        assert store.get(success.key).score == 0.7
        assert store.record(_result(status="error")) is False  # an error never replaces a success
        assert store.record(_result(score=0.9)) is True  # a newer success replaces the older one
        assert len(store) == 1 and store.get(success.key).score == 0.9
        other_version = _result(benchmark_version="2", score=0.1)
        store.record(other_version)
        assert len(store) == 2 and store.get(other_version.key).score == 0.1


def test_bad_files_and_rows_are_refused(tmp_path):
    not_db = tmp_path / "notes.sqlite"
    not_db.write_text("this is not a database" * 100)
    with pytest.raises(ValueError, match="notes.sqlite is not a usable leaderboard database"):
        LeaderboardStore(not_db)
    with pytest.raises(IsADirectoryError, match="is not a file"):
        LeaderboardStore(tmp_path)
    with LeaderboardStore(tmp_path / "ok.sqlite") as store, pytest.raises(ValueError, match="'pending'"):
        store.record(_result(status="pending"))


def test_two_processes_write_at_once_without_losing_rows(tmp_path, test_plugin):
    from leaderboard_workers import write_many

    path = str(tmp_path / "lb.sqlite")
    LeaderboardStore(path).close()
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        barrier = manager.Barrier(2)
        with ProcessPoolExecutor(2, mp_context=context) as pool:
            written = list(pool.map(write_many, [path, path], [0, 1], [barrier, barrier]))
    assert written == [30, 30]
    with LeaderboardStore(path) as store:
        rows = store.results()
    assert len(rows) == 65  # 2 x 30 own rows + 5 shared keys stored once each
    assert sorted(r.model for r in rows if r.model.startswith("shared")) == [f"shared-{i}" for i in range(5)]
    assert all(r.score in (0.0, 1.0) for r in rows if r.model.startswith("shared"))


# schema 1 as realnet-plugin wrote it before the model fingerprint (copied from that version's store.py)
_SCHEMA_1 = """
CREATE TABLE results (
    id INTEGER PRIMARY KEY AUTOINCREMENT, model TEXT NOT NULL, benchmark TEXT NOT NULL, weights_hash TEXT NOT NULL,
    benchmark_version TEXT NOT NULL, options TEXT NOT NULL DEFAULT '{}', pretrained INTEGER NOT NULL DEFAULT 1,
    status TEXT NOT NULL CHECK (status IN ('ok', 'error')),
    score REAL, raw REAL, ceiling REAL, error REAL, ci_low REAL, ci_high REAL, message TEXT,
    seconds REAL NOT NULL DEFAULT 0, attrs TEXT NOT NULL DEFAULT '{}', created_at TEXT NOT NULL,
    UNIQUE (model, weights_hash, benchmark, benchmark_version, options));
CREATE INDEX results_by_model ON results (model, benchmark);
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta (name, value) VALUES ('schema_version', '1');
INSERT INTO results (model, benchmark, weights_hash, benchmark_version, options, status, score, created_at)
    VALUES ('m', 'b', 'abc', '1', '{}', 'ok', 0.25, '2024-01-01T00:00:00+00:00');
INSERT INTO results (model, benchmark, weights_hash, benchmark_version, options, status, message, created_at)
    VALUES ('m', 'b2', '', '1', '{}', 'error', 'boom', '2024-01-01T00:00:00+00:00');
"""


def test_a_schema_1_file_is_migrated_and_its_rows_are_never_fresh(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as raw:
        raw.executescript(_SCHEMA_1)
    with LeaderboardStore(path) as store:
        rows = store.results()
        assert [(r.model, r.benchmark, r.weights_hash, r.status, r.score) for r in rows] == [
            ("m", "b", "abc", "ok", 0.25), ("m", "b2", "", "error", None)]  # history kept, weights hash column too
        assert [r.model_fingerprint for r in rows] == ["schema1:abc", "schema1:"]
        # a key of any real model (a sha256 fingerprint, or the empty one of an unbuildable model) finds nothing
        assert store.get(PairResult(model="m", benchmark="b", weights_hash="abc", benchmark_version="1",
                                    model_fingerprint="f" * 64).key) is None
        assert not store.has_ok(PairResult(model="m", benchmark="b", weights_hash="abc", benchmark_version="1").key)
        fresh = _result(model="m", benchmark="b", options="{}", weights_hash="abc", model_fingerprint="f" * 64)
        assert store.record(fresh) is True and store.get(fresh.key) == fresh and len(store) == 3
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()[0] == "2"
        assert raw.execute("SELECT name FROM sqlite_master WHERE name = 'results_schema1'").fetchone() is None
    with LeaderboardStore(path) as store:  # opening again changes nothing
        assert len(store) == 3


def test_a_newer_schema_is_refused_in_one_line(tmp_path):
    path = tmp_path / "future.sqlite"
    LeaderboardStore(path).close()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE meta SET value = '9' WHERE name = 'schema_version'")
    with pytest.raises(ValueError, match=r"future.sqlite has schema version 9; this code reads version 2") as info:
        LeaderboardStore(path)
    assert "\n" not in str(info.value)
