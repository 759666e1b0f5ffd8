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
    assert ("model", "weights_hash", "benchmark", "benchmark_version", "options") in columns
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
