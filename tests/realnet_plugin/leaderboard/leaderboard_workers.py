"""Functions the concurrency tests run in spawned processes (they must be importable by module name)."""
from __future__ import annotations

from realnet_plugin.leaderboard import LeaderboardStore, PairResult


def write_many(path: str, worker: int, barrier, n_rows: int = 30, n_shared: int = 5) -> int:
    """Record ``n_rows`` rows of this worker's own and ``n_rows`` rows on ``n_shared`` keys both workers write."""
    written = 0
    with LeaderboardStore(path, timeout=30) as store:
        barrier.wait(timeout=120)
        for i in range(n_rows):
            own = PairResult(model=f"w{worker}-{i}", benchmark="b", weights_hash="h", benchmark_version="1",
                             score=i / n_rows)
            written += store.record(own)
            shared = PairResult(model=f"shared-{i % n_shared}", benchmark="b", weights_hash="h",
                                benchmark_version="1", score=float(worker))
            store.record(shared)
    return written


def overlapping_run(db: str, barrier, imports: list[str]) -> list[tuple[str, str, str]]:
    """One leaderboard run started together with another one on the same database: (model, benchmark, status)."""
    import importlib

    from realnet_plugin.leaderboard import run_leaderboard

    for module in imports:
        importlib.import_module(module)
    barrier.wait(timeout=120)
    run = run_leaderboard("lbtest_tiny_*", "lbtest-logit-mean", db=db, imports=imports, progress=False)
    return [(o.model, o.benchmark, o.status) for o in run.outcomes]
