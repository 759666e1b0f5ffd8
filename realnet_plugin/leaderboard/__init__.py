"""The leaderboard: score many (model, benchmark) pairs into a SQLite file, skipping pairs already scored with the
same weights and benchmark version, locally in parallel or on a Dask cluster, and render a sortable HTML page.

Example::

    from realnet_plugin.leaderboard import render_leaderboard, run_leaderboard

    run = run_leaderboard('efficientnet_lite0', '*-robustness', benchmark_options={'images': 'builtin'})
    render_leaderboard(run.results, 'leaderboard.html')

Models may be patterns over every registered id and ``brainscore:<id>`` family, or RDM models::

    run_leaderboard(['brainscore:resnet50_*', 'cornet_s', RdmModel.from_rsatoolbox(rdms)], 'kriegeskorte2008-hit-rsa')
"""
from .page import latest_results, render_leaderboard, table_rows
from .records import PairKey, PairResult
from .runner import LeaderboardRun, PairOutcome, run_leaderboard
from .selection import resolve_benchmarks, resolve_model_entries, resolve_models
from .store import LeaderboardStore, default_db_path

__all__ = [
    "LeaderboardRun", "LeaderboardStore", "PairKey", "PairOutcome", "PairResult", "default_db_path",
    "latest_results", "render_leaderboard", "resolve_benchmarks", "resolve_model_entries",
    "resolve_models", "run_leaderboard", "table_rows",
]
