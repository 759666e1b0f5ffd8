import pytest

from realnet_plugin.cli import main
from realnet_plugin.leaderboard import LeaderboardStore


def test_leaderboard_command_scores_caches_and_writes_the_page(tmp_path, capsys, test_plugin):
    db, page = tmp_path / "lb.sqlite", tmp_path / "board.html"
    argv = ["leaderboard", "--models", "lbtest_tiny_*", "--benchmarks", "lbtest-logit-mean", "--db", str(db),
            "--html", str(page), "--import", "leaderboard_test_plugin", "--no-progress"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["lbtest_tiny_a", "lbtest-logit-mean", "scored"]
    assert lines[2] == f"2 pairs: 2 scored, 0 already in {db}, 0 failed" and lines[3] == f"wrote {page}"
    assert page.read_text().count("<tr data-model=") == 2
    with LeaderboardStore(db) as store:
        stored = {r.model: r.score for r in store.results()}
    assert f"score {stored['lbtest_tiny_b']:.4f}" in lines[1]

    assert main(argv[:-3] + ["--import", "leaderboard_test_plugin", "--no-progress"]) == 0
    assert "2 pairs: 0 scored, 2 already in" in capsys.readouterr().out

    assert main(argv + ["--option", "offset=1.5"]) == 0
    assert "2 pairs: 2 scored" in capsys.readouterr().out
    with LeaderboardStore(db) as store:
        assert {r.options for r in store.results()} == {"{}", '{"offset":1.5}'}


def test_leaderboard_command_errors_are_one_line(tmp_path, capsys, test_plugin):
    assert main(["leaderboard", "--models", "xyz*", "--benchmarks", "lbtest-logit-mean"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("realnet leaderboard: error: no model matches 'xyz*'; known: ") and err.count("\n") == 1

    code = main(["leaderboard", "--models", "lbtest_tiny_a", "--benchmarks", "lbtest-broken,lbtest-logit-mean",
                 "--db", str(tmp_path / "lb.sqlite"), "--import", "leaderboard_test_plugin", "--no-progress"])
    captured = capsys.readouterr()
    assert code == 1 and "lbtest_tiny_a  lbtest-broken      error   RuntimeError: broken on purpose" in captured.out
    assert captured.err.strip() == (f"realnet leaderboard: error: 1 of 2 pairs failed (stored as error rows in "
                                    f"{tmp_path / 'lb.sqlite'})")

    assert main(["leaderboard", "--models", "lbtest_tiny_a", "--benchmarks", "lbtest-logit-mean",
                 "--figure", "no-equals-sign", "--db", str(tmp_path / "lb.sqlite")]) == 1
    assert "--figure expects MODEL=PATH.png" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["leaderboard", "--models", "lbtest_tiny_a"])  # --benchmarks is required (argparse exits)
