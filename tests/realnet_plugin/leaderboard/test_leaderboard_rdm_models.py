"""RDM models on the leaderboard, in this process: an ``rsatoolbox.rdm.RDMs`` entry is scored like ``score()`` would
and checked against ``scipy.stats.spearmanr``; an RDM model that cannot be scored keeps its provenance on its error
row and on the page; entries that cannot be rows are refused before the database is opened."""
from __future__ import annotations

import html
import json
import re

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform
from scipy.stats import spearmanr

from benchmarks.datasets.kriegeskorte2008.data import load_kriegeskorte2008
from benchmarks.rdm_model import RdmModel
from realnet_plugin.leaderboard import LeaderboardStore, render_leaderboard, resolve_model_entries, run_leaderboard
from realnet_plugin.leaderboard.selection import resolve_model_entries as selection_entries

BENCHMARK = "kriegeskorte2008-hit-rsa"


@pytest.fixture
def k92(kriegeskorte2008_dir):
    root = kriegeskorte2008_dir
    return root, load_kriegeskorte2008(root)


def test_rsatoolbox_rdms_score_on_the_board_and_a_refused_rdm_model_keeps_its_provenance(k92, tmp_path):
    from rsatoolbox.rdm import RDMs

    root, data = k92
    ids = list(data.stimulus_ids)
    patterns = np.random.default_rng(3).normal(size=(len(ids), 7))
    condensed = pdist(patterns, "correlation")  # 1 - Pearson
    toolbox = RDMs(condensed[None], dissimilarity_measure="correlation", rdm_descriptors={"layer": ["random7"]},
                   pattern_descriptors={"stimulus_id": ids})
    expected_raw = np.mean([spearmanr(condensed, squareform(s, checks=False))[0] for s in data.subject_rdms()])
    short = RdmModel.from_arrays({"random7": squareform(condensed)[:-1, :-1]}, ids[:-1], identifier="short-rdms",
                                 provenance={"source": "lab B, C:\\Users\\bob\\short.npy"})
    options = {"root": str(root), "n_bootstrap": 0}
    db = tmp_path / "board.sqlite"
    run = run_leaderboard([toolbox, short], BENCHMARK, db=db, benchmark_options=options, progress=False)

    first, second = run.outcomes
    assert first.status == "scored" and first.model.startswith("rdms:")
    assert first.result.raw == pytest.approx(expected_raw, abs=1e-9)
    provenance = json.loads(first.result.attrs)["model_provenance"]
    assert provenance["source"] == "rsatoolbox.rdm.RDMs" and provenance["dissimilarity_measure"] == "correlation"
    assert first.result.weights_hash == provenance["content_sha256"]

    assert second.status == "error" and "1 of kriegeskorte2008-hit-rsa's 92 stimulus ids are missing" in (
        second.result.message)
    kept = json.loads(second.result.attrs)["model_provenance"]
    assert kept["content_sha256"] == short.content_hash() == second.result.weights_hash

    with LeaderboardStore(db) as store:  # what is stored carries the provenance too
        assert {json.loads(r.attrs)["model_provenance"]["content_sha256"] for r in store.results()} == {
            first.result.weights_hash, short.content_hash()}
    page = render_leaderboard(run.results, tmp_path / "board.html").read_text(encoding="utf-8")
    row = re.search(r'<tr data-model="short-rdms".*?</tr>', page).group(0)
    note = html.unescape(re.search(r'<span class="provenance"[^>]*>(.*?)</span>', row).group(1))
    assert note.startswith("RDMs \u00b7 source: lab B, \u2026/short.npy") and "bob" not in page
    assert f"content sha256 {short.content_hash()[:12]}" in note and 'class="error"' in row
    downloads = re.search(r'download="leaderboard.json" href="data:application/json;charset=utf-8;base64,([^"]+)"',
                          page).group(1)
    import base64

    records = json.loads(base64.b64decode(downloads))["results"]
    assert {r["model"]: r["model_provenance"] for r in records}[first.model].endswith(
        f"content sha256 {first.result.weights_hash[:12]}")

    # the same RDMs again: cached by content; changed RDMs: a new key, scored
    changed = RdmModel.from_arrays({"random7": squareform(condensed * 2)}, ids, identifier=first.model)
    again = run_leaderboard([toolbox], BENCHMARK, db=db, benchmark_options=options, progress=False)
    assert [o.status for o in again.outcomes] == ["cached"]
    rescored = run_leaderboard([changed], BENCHMARK, db=db, benchmark_options=options, progress=False).outcomes[0]
    assert rescored.status == "scored" and rescored.result.weights_hash == changed.content_hash()
    assert rescored.result.weights_hash != first.result.weights_hash
    assert rescored.result.raw == pytest.approx(expected_raw, abs=1e-9)  # ranks unchanged by the factor 2


def test_entries_that_cannot_be_rows_are_refused_before_anything_is_opened(k92, tmp_path):
    _, data = k92
    ids = list(data.stimulus_ids)
    model = RdmModel.from_arrays({"a": squareform(pdist(np.arange(len(ids) * 2.0).reshape(-1, 2) ** 1.5))}, ids,
                                 identifier="lab-a")
    db = tmp_path / "never.sqlite"
    with pytest.raises(ValueError, match="share the identifier 'lab-a'"):
        run_leaderboard([model, model], BENCHMARK, db=db)
    with pytest.raises(ValueError, match="RDM model identifier 'cornet_s' is a model id"):
        run_leaderboard([RdmModel.from_arrays(model.rdms, ids, identifier="cornet_s")], BENCHMARK, db=db)
    with pytest.raises(TypeError, match=r"models\[1\] is of type dict"):
        run_leaderboard(["cornet_s", {"a": model.rdms["a"]}], BENCHMARK, db=db)
    assert not db.exists()
    assert resolve_model_entries is selection_entries
    assert resolve_model_entries(["cornet_s", model, "cornet_s"]) == [("cornet_s", None), ("lab-a", model)]
