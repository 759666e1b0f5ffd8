import distributed

from realnet_plugin.leaderboard import run_leaderboard

PLUGIN = ["leaderboard_test_plugin"]


def test_dask_cluster_gives_the_serial_results(tmp_path, test_plugin):
    models = "efficientnet_lite0,lbtest_tiny_a"
    options = {"images": "builtin", "epsilons": [0, 2 / 255], "progress": False}
    serial = run_leaderboard(models, "fgsm-robustness,lbtest-broken", db=tmp_path / "serial.sqlite", imports=PLUGIN,
                             progress=False, benchmark_options=options)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        clustered = run_leaderboard(models, "fgsm-robustness,lbtest-broken", db=tmp_path / "dask.sqlite",
                                    scheduler=cluster.scheduler_address, imports=PLUGIN, progress=False,
                                    benchmark_options=options)
    assert [o.status for o in clustered.outcomes] == [o.status for o in serial.outcomes] == [
        "scored", "error", "scored", "error"]
    lite = clustered.results[0]
    assert lite.model == "efficientnet_lite0" and lite.benchmark == "fgsm-robustness"
    assert 0 < lite.score <= 1 and lite.raw is not None
    for mine, theirs in zip(clustered.results, serial.results):
        assert (mine.weights_hash, mine.benchmark_version, mine.message) == (
            theirs.weights_hash, theirs.benchmark_version, theirs.message)
        assert mine.score == theirs.score and mine.raw == theirs.raw
