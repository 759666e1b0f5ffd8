import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import pytest
import torch

from model_registry import load_model
from model_registry.storage.fingerprint import weights_hash
from realnet_plugin import score
from realnet_plugin.leaderboard import LeaderboardStore, resolve_benchmarks, resolve_models, run_leaderboard
from realnet_plugin.leaderboard import runner as runner_module

PLUGIN = ["leaderboard_test_plugin"]
TINY = "lbtest_tiny_a,lbtest_tiny_b"


def _by_pair(run) -> dict:
    return {(o.model, o.benchmark): o for o in run.outcomes}


@pytest.fixture
def counted_scoring(monkeypatch):
    """Counts the pairs actually scored (serial runs call score_pair in this process)."""
    calls = []
    original = runner_module.score_pair

    def counting(task):
        calls.append((task.model_task.model, task.benchmark))
        return original(task)

    monkeypatch.setattr(runner_module, "score_pair", counting)
    return calls


def test_serial_run_scores_skips_and_rescores_retrained_models(tmp_path, test_plugin, counted_scoring, monkeypatch):
    import model_registry

    db = tmp_path / "lb.sqlite"
    builds = []
    original_load = model_registry.load_model
    monkeypatch.setattr(model_registry, "load_model",
                        lambda name, **options: builds.append(name) or original_load(name, **options))
    first = run_leaderboard(TINY, "lbtest-logit-mean,lbtest-broken", db=db, imports=PLUGIN, progress=False)
    monkeypatch.setattr(model_registry, "load_model", original_load)
    assert builds == ["lbtest_tiny_a", "lbtest_tiny_b"]  # each network built once, then reused for its pairs
    pairs = _by_pair(first)
    assert [(o.model, o.benchmark) for o in first.outcomes] == [
        ("lbtest_tiny_a", "lbtest-logit-mean"), ("lbtest_tiny_a", "lbtest-broken"),
        ("lbtest_tiny_b", "lbtest-logit-mean"), ("lbtest_tiny_b", "lbtest-broken")]
    for model in ("lbtest_tiny_a", "lbtest_tiny_b"):
        outcome = pairs[model, "lbtest-logit-mean"]
        expected = score(model, "lbtest-logit-mean")
        network = load_model(model).network
        assert outcome.status == "scored" and outcome.result.score == pytest.approx(float(expected), abs=1e-9)
        assert outcome.result.raw == pytest.approx(test_plugin.logit_mean(network), abs=1e-9)
        assert outcome.result.ceiling == pytest.approx(0.9) and outcome.result.error == pytest.approx(0.01)
        assert outcome.result.ci_low == pytest.approx(float(expected) - 0.05)
        assert outcome.result.weights_hash == weights_hash(network) and outcome.result.benchmark_version == "1"
        broken = pairs[model, "lbtest-broken"]
        assert broken.status == "error" and broken.result.message == "RuntimeError: broken on purpose second line"
    assert len(counted_scoring) == 4
    with LeaderboardStore(db) as store:
        assert len(store) == 4 and sum(r.ok for r in store.results()) == 2

    counted_scoring.clear()
    again = run_leaderboard(TINY, "lbtest-logit-mean,lbtest-broken", db=db, imports=PLUGIN, progress=False)
    assert [o.status for o in again.outcomes] == ["cached", "error", "cached", "error"]
    assert sorted(counted_scoring) == [("lbtest_tiny_a", "lbtest-broken"), ("lbtest_tiny_b", "lbtest-broken")]
    assert again.results[0] == first.results[0]  # the stored row itself, untouched

    # "retrain" model a: new weights file -> new hash -> scored again; model b stays cached
    counted_scoring.clear()
    retrained = load_model("lbtest_tiny_a").network
    with torch.no_grad():
        retrained.classifier.bias.add_(1.0)
    test_plugin.weights_file("lbtest_tiny_a").parent.mkdir(parents=True, exist_ok=True)
    torch.save(retrained.state_dict(), test_plugin.weights_file("lbtest_tiny_a"))
    third = _by_pair(run_leaderboard(TINY, "lbtest-logit-mean", db=db, imports=PLUGIN, progress=False))
    assert counted_scoring == [("lbtest_tiny_a", "lbtest-logit-mean")]
    assert third["lbtest_tiny_a", "lbtest-logit-mean"].status == "scored"
    assert third["lbtest_tiny_b", "lbtest-logit-mean"].status == "cached"
    new_raw = third["lbtest_tiny_a", "lbtest-logit-mean"].result.raw
    assert new_raw == pytest.approx(pairs["lbtest_tiny_a", "lbtest-logit-mean"].result.raw + 1.0, abs=1e-6)

    # a new benchmark version re-scores every model; other options make another key too
    counted_scoring.clear()
    monkeypatch.setenv("LBTEST_BENCHMARK_VERSION", "2")
    fourth = run_leaderboard(TINY, "lbtest-logit-mean", db=db, imports=PLUGIN, progress=False)
    assert [o.status for o in fourth.outcomes] == ["scored", "scored"] and len(counted_scoring) == 2
    assert {r.benchmark_version for r in fourth.results} == {"2"}
    shifted = run_leaderboard("lbtest_tiny_b", "lbtest-logit-mean", db=db, imports=PLUGIN, progress=False,
                              benchmark_options={"offset": 2.0})
    assert shifted.outcomes[0].status == "scored" and shifted.results[0].options == '{"offset":2.0}'
    quiet = run_leaderboard("lbtest_tiny_b", "lbtest-logit-mean", db=db, imports=PLUGIN, progress=False,
                            benchmark_options={"progress": False})  # a cosmetic option is not part of the key
    assert quiet.outcomes[0].status == "cached"
    with LeaderboardStore(db) as store:
        assert len(store) == 8


def test_random_weights_are_seeded_and_stored_apart(tmp_path, test_plugin):
    db = tmp_path / "lb.sqlite"
    trained = run_leaderboard("lbtest_tiny_a", "lbtest-logit-mean", db=db, imports=PLUGIN, progress=False)
    random_a = run_leaderboard("lbtest_tiny_a", "lbtest-logit-mean", db=db, imports=PLUGIN, progress=False,
                               random_weights=True)
    random_b = run_leaderboard("lbtest_tiny_a", "lbtest-logit-mean", db=tmp_path / "other.sqlite", imports=PLUGIN,
                               progress=False, random_weights=True)
    other_seed = run_leaderboard("lbtest_tiny_a", "lbtest-logit-mean", db=db, imports=PLUGIN, progress=False,
                                 random_weights=True, seed=1)
    assert random_a.outcomes[0].status == "scored" and random_a.results[0].pretrained is False
    assert random_a.results[0].weights_hash == random_b.results[0].weights_hash  # same seed, same weights
    assert random_a.results[0].score == random_b.results[0].score
    assert len({trained.results[0].weights_hash, random_a.results[0].weights_hash,
                other_seed.results[0].weights_hash}) == 3
    with torch.random.fork_rng():
        torch.manual_seed(0)
        expected = weights_hash(load_model("lbtest_tiny_a", pretrained=False).network)
    assert random_a.results[0].weights_hash == expected


def test_process_pool_gives_the_serial_results(tmp_path, test_plugin):
    serial = run_leaderboard(TINY, "lbtest-logit-mean,lbtest-broken", db=tmp_path / "serial.sqlite",
                             imports=PLUGIN, progress=False)
    pooled = run_leaderboard(TINY, "lbtest-logit-mean,lbtest-broken", db=tmp_path / "pool.sqlite", workers=2,
                             imports=PLUGIN, progress=False)
    assert [o.status for o in pooled.outcomes] == [o.status for o in serial.outcomes]
    for mine, theirs in zip(pooled.results, serial.results):
        assert (mine.model, mine.benchmark, mine.weights_hash, mine.message) == (
            theirs.model, theirs.benchmark, theirs.weights_hash, theirs.message)
        assert mine.score == theirs.score and mine.raw == theirs.raw


def test_overlapping_runs_score_each_pair_once(tmp_path, test_plugin):
    from leaderboard_workers import overlapping_run

    db = str(tmp_path / "lb.sqlite")
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        barrier = manager.Barrier(2)
        with ProcessPoolExecutor(2, mp_context=context) as pool:
            outcomes = list(pool.map(overlapping_run, [db, db], [barrier, barrier], [PLUGIN, PLUGIN]))
    assert all(status in ("scored", "cached") for run in outcomes for _, _, status in run)
    with LeaderboardStore(db) as store:
        rows = store.results()
    assert sorted(r.model for r in rows) == ["lbtest_tiny_a", "lbtest_tiny_b"] and all(r.ok for r in rows)


def test_patterns_that_match_nothing_are_named(test_plugin):
    assert resolve_models("lbtest_tiny_*, efficientnet_lite0") == ["lbtest_tiny_a", "lbtest_tiny_b",
                                                                   "efficientnet_lite0"]
    assert resolve_models("timm:resnet18") == ["timm:resnet18"]  # open families resolve exact ids
    assert resolve_benchmarks("*-robustness") == ["fgsm-robustness", "pgd-robustness"]
    with pytest.raises(ValueError, match=r"no model matches 'xyz\*'"):
        run_leaderboard("lbtest_tiny_a,xyz*", "lbtest-logit-mean")
    with pytest.raises(ValueError, match="no model matches 'efficientnet_lite1'; did you mean efficientnet_lite0"):
        resolve_models("efficientnet_lite1")
    with pytest.raises(ValueError, match="no benchmark matches 'things-nothing'"):
        resolve_benchmarks("fgsm-robustness,things-nothing")
    with pytest.raises(ValueError, match="no model pattern given"):
        resolve_models(" , ")


def test_a_model_that_cannot_be_built_is_an_error_row(tmp_path, test_plugin, monkeypatch):
    import model_registry

    monkeypatch.setattr(model_registry, "load_model", lambda *a, **k: (_ for _ in ()).throw(OSError("no weights")))
    run = run_leaderboard("lbtest_tiny_a", "lbtest-logit-mean", db=tmp_path / "lb.sqlite", progress=False)
    assert run.outcomes[0].status == "error"
    assert run.results[0].message == "model lbtest_tiny_a could not be built: OSError: no weights"
    assert run.count("error") == 1 and "1 failed" in run.summary()


def test_same_weights_with_another_definition_are_scored_again(tmp_path, test_plugin, counted_scoring, monkeypatch):
    """The key is what the model computes: a plugin that changes preprocessing, layers or visual degrees with the
    same weights gets a new row (scored once more); an unchanged definition stays cached."""
    db = tmp_path / "lb.sqlite"

    def run(**definition):
        import json

        monkeypatch.setenv("LBTEST_DEFINITION", json.dumps(definition))
        counted_scoring.clear()
        outcome = run_leaderboard("lbdefined_tiny", "lbtest-logit-mean", db=db, imports=PLUGIN,
                                  progress=False).outcomes[0]
        return outcome.status, len(counted_scoring), outcome.result

    status, calls, first = run()
    assert (status, calls) == ("scored", 1)
    assert first.weights_hash == weights_hash(load_model("lbtest_tiny_a").network)  # the weights column is unchanged
    assert run()[:2] == ("cached", 0)
    seen = {first.model_fingerprint}
    for definition in ({"image_size": 24}, {"layers": ["features"]}, {"visual_degrees": 4.0}):
        status, calls, result = run(**definition)
        assert (status, calls) == ("scored", 1), definition
        assert result.weights_hash == first.weights_hash and result.model_fingerprint not in seen
        seen.add(result.model_fingerprint)
        assert run(**definition)[:2] == ("cached", 0), definition
    assert run()[:2] == ("cached", 0)  # the first definition's row is still there
    with LeaderboardStore(db) as store:
        assert len(store) == 4 and {r.weights_hash for r in store.results()} == {first.weights_hash}


def test_a_benchmark_reads_its_data_once_for_all_models_of_a_run(tmp_path, test_plugin, kriegeskorte2008_dir,
                                                                  monkeypatch):
    """3 models x 1 benchmark: the dataset is loaded once in the run (the benchmark object is reused for every
    model), not once per pair; the scores equal those of a benchmark built afresh for each model."""
    from benchmarks.kriegeskorte2008 import benchmark as k2008

    loads = []
    original = k2008.load_kriegeskorte2008
    monkeypatch.setattr(k2008, "load_kriegeskorte2008", lambda root=None: loads.append(root) or original(root))
    options = {"root": str(kriegeskorte2008_dir), "n_bootstrap": 0, "layers": ["features"]}
    models = ["lbtest_tiny_a", "lbtest_tiny_b", "lbdefined_tiny"]
    run = run_leaderboard(models, "kriegeskorte2008-hit-rsa", db=tmp_path / "lb.sqlite", imports=PLUGIN,
                          benchmark_options=options, progress=False)
    assert [o.status for o in run.outcomes] == ["scored"] * 3, [r.message for r in run.results]
    assert len(loads) == 1
    loads.clear()
    for model, result in zip(models, run.results):
        alone = score(model, "kriegeskorte2008-hit-rsa", **options)  # a new benchmark object each time
        assert result.raw == pytest.approx(float(alone.attrs["raw"]), abs=1e-12)
    assert len(loads) == 3  # the counter does see every load
