"""The leaderboard takes any model: ``brainscore:<id>`` (wildcards too), registered ids and RDM models.

A copy of brainscore_vision with a tiny model plugin written here (the layout of
tests/model_registry/test_brainscore_family.py) is put first on ``sys.path`` of two subprocesses sharing one
database and one ``REALNET_HOME``:

1. ``run_leaderboard(['brainscore:my_t*', 'lbtest_tiny_a', <RdmModel>], 'kriegeskorte2008-hit-rsa')``;
2. the plugin's weights are changed (seed 7 -> 8) and ``realnet leaderboard --models 'brainscore:my_t*,
   lbtest_tiny_a'`` runs again, then the RDM model once more, and the page is rendered from the whole database.

Checked against values computed independently: the tiny network's conv2 features are computed here with Brain-Score's
own ``load_preprocess_images`` and a plain torch forward hook, their 1 - Pearson RDM is compared with each subject's
hIT RDM by ``scipy.stats.spearmanr``; weights hashes against the networks the plugin builds.
"""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

REPO = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO / "tests" / "model_registry"))
from test_brainscore_family import INIT_PY, TINY, _copy_brainscore_vision  # noqa: E402

sys.path.pop(0)

MODEL_PY = TINY.replace("torch.manual_seed(7)", "torch.manual_seed(SEED)") + textwrap.dedent('''
    import functools
    from brainscore_vision.model_helpers.activations.pytorch import PytorchWrapper, load_preprocess_images
    from brainscore_vision.model_helpers.brain_transformation import ModelCommitment

    SEED = 7

    def get_model(name):
        assert name == "my_tiny"
        preprocessing = functools.partial(load_preprocess_images, image_size=64)
        wrapper = PytorchWrapper(model=build_tiny(), preprocessing=preprocessing, identifier=name)
        return ModelCommitment(identifier=name, activations_model=wrapper, layers=["conv1", "conv2", "pool"])
''')
COMMON = TINY.replace("torch.manual_seed(7)", "torch.manual_seed(seed)").replace(
    "def build_tiny():", "def build_tiny(seed):") + textwrap.dedent('''
    import json, sys
    import numpy as np
    from benchmarks.rdm_model import RdmModel
    from model_registry import Preprocessing, wrap
    from model_registry.storage.fingerprint import weights_hash
    from realnet_plugin.api import score
    from realnet_plugin.leaderboard import LeaderboardStore, run_leaderboard

    DB, RDM_FILE, OUT = sys.argv[1], sys.argv[2], sys.argv[3]
    saved = np.load(RDM_FILE)
    rdm_model = RdmModel.from_arrays({"conv2": saved["rdm"]}, [str(i) for i in saved["ids"]], identifier="lab-rdms",
                                     provenance={"source": "/home/lab/exports/tiny_conv2.npz",
                                                 "dissimilarity_measure": "1 - Pearson (conv2)"})

    def direct(seed):
        wrapped = wrap(build_tiny(seed), layers=["conv1", "conv2", "pool"], preprocessing=Preprocessing(image_size=64))
        return float(score(wrapped, "kriegeskorte2008-hit-rsa", n_bootstrap=0))

    def rows():
        with LeaderboardStore(DB) as store:
            return [r.as_dict() for r in store.results()]

    def outcomes(run):
        return [{"model": o.model, "status": o.status, "hash": o.result.weights_hash, "score": o.result.score,
                 "raw": o.result.raw, "attrs": json.loads(o.result.attrs), "message": o.result.message}
                for o in run.outcomes]
''')
PHASE_1 = COMMON + textwrap.dedent('''
    from realnet_plugin.leaderboard import resolve_models

    errors = {}
    for name, call in {"typo": lambda: resolve_models("brainscore:not_there"),
                       "nothing": lambda: resolve_models("brainscore:zzz_*"),
                       "random": lambda: run_leaderboard([rdm_model], "kriegeskorte2008-hit-rsa", db=DB,
                                                         random_weights=True),
                       "clash": lambda: run_leaderboard([RdmModel.from_arrays({"x": saved["rdm"]}, list(saved["ids"]),
                                                         identifier="lbtest_tiny_a")], "kriegeskorte2008-hit-rsa",
                                                        db=DB, imports=["leaderboard_test_plugin"]),
                       "object": lambda: run_leaderboard([object()], "kriegeskorte2008-hit-rsa", db=DB)}.items():
        try:
            call()
            errors[name] = ""
        except Exception as error:
            errors[name] = f"{type(error).__name__}: {error}"
    import os
    db_after_errors = os.path.exists(DB)
    resolved = resolve_models("brainscore:alexnet,brainscore:my_t*,lbtest_tiny_*")
    run = run_leaderboard(["brainscore:my_t*", "lbtest_tiny_a", rdm_model], "kriegeskorte2008-hit-rsa", db=DB,
                          benchmark_options={"n_bootstrap": 0}, imports=["leaderboard_test_plugin"], progress=False)
    json.dump({"errors": errors, "db_after_errors": db_after_errors, "resolved": resolved, "models": run.models,
               "outcomes": outcomes(run), "hash7": weights_hash(build_tiny(7)), "direct7": direct(7),
               "content_hash": rdm_model.content_hash()}, open(OUT, "w"))
''')
PHASE_2 = COMMON + textwrap.dedent('''
    import contextlib, io
    from realnet_plugin.cli import main
    from realnet_plugin.leaderboard import latest_results, render_leaderboard

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["leaderboard", "--models", "brainscore:my_t*,lbtest_tiny_a", "--benchmarks",
                     "kriegeskorte2008-hit-rsa", "--option", "n_bootstrap=0", "--import", "leaderboard_test_plugin",
                     "--db", DB, "--no-progress"])
    again = run_leaderboard([rdm_model], "kriegeskorte2008-hit-rsa", db=DB, benchmark_options={"n_bootstrap": 0},
                            progress=False)
    with LeaderboardStore(DB) as store:
        render_leaderboard(latest_results(store.results()), sys.argv[4])
    json.dump({"code": code, "printed": printed.getvalue(), "again": outcomes(again), "rows": rows(),
               "hash8": weights_hash(build_tiny(8)), "direct8": direct(8)}, open(OUT, "w"))
''')


def _conv2_rdm(images: np.ndarray, folder: Path, seed: int) -> np.ndarray:
    """1 - Pearson RDM of the tiny network's conv2 output, computed without our extractor: the images written as
    PNG, preprocessed by Brain-Score's ``load_preprocess_images(image_size=64)``, conv2 read by a forward hook."""
    import torch
    from brainscore_vision.model_helpers.activations.pytorch import load_preprocess_images
    from PIL import Image

    namespace: dict = {}
    exec(TINY.replace("torch.manual_seed(7)", f"torch.manual_seed({seed})"), namespace)
    network = namespace["build_tiny"]()
    folder.mkdir()
    paths = []
    for index, image in enumerate(images):
        paths.append(str(folder / f"{index:03d}.png"))
        Image.fromarray(image).save(paths[-1])
    pixels = torch.from_numpy(np.asarray(load_preprocess_images(paths, image_size=64), dtype=np.float32))
    captured = []
    network.conv2.register_forward_hook(lambda module, inputs, output: captured.append(output.detach()))
    with torch.no_grad():
        network(pixels)
    features = captured[0].reshape(len(images), -1).double().numpy()
    return 1 - np.corrcoef(features)


def _run(script: str, args: list[str], env: dict, cwd: Path) -> dict:
    path = cwd / f"phase_{len(list(cwd.glob('phase_*.py')))}.py"
    path.write_text(script)
    out = cwd / f"{path.stem}.json"
    done = subprocess.run([sys.executable, str(path), *args[:2], str(out), *args[2:]], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(out.read_text())


def _upper(square: np.ndarray) -> np.ndarray:
    return square[np.triu_indices(len(square), k=1)]


def test_brainscore_registered_and_rdm_models_share_one_leaderboard(tmp_path, kriegeskorte2008_dir):
    from benchmarks.datasets.kriegeskorte2008.data import load_kriegeskorte2008

    site = tmp_path / "site"
    package = _copy_brainscore_vision(site)
    plugin = package / "models" / "my_tiny"
    (plugin / "__init__.py").write_text(INIT_PY)
    (plugin / "model.py").write_text(MODEL_PY)
    data = tmp_path / "data"
    shutil.copytree(kriegeskorte2008_dir, data / "kriegeskorte2008")
    k92 = load_kriegeskorte2008(data / "kriegeskorte2008")
    ids = list(k92.stimulus_ids)

    # the RDM model: conv2 of the seed-7 network, its rows shuffled (the benchmark must reorder them by id)
    rdm = _conv2_rdm(k92.images, tmp_path / "png", seed=7)
    order = np.random.default_rng(0).permutation(len(ids))
    np.savez(tmp_path / "rdm.npz", rdm=rdm[np.ix_(order, order)], ids=np.array(ids)[order])
    subjects = k92.subject_rdms()  # (4, 92, 92), sessions averaged
    expected_raw = float(np.mean([spearmanr(_upper(rdm), _upper(s))[0] for s in subjects]))

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO), str(HERE)]),
           "REALNET_DATA_DIR": str(data), "BS_INSTALL_DEPENDENCIES": "no",
           "RESULTCACHING_HOME": str(tmp_path / "result_caching")}
    db = str(tmp_path / "board.sqlite")
    first = _run(PHASE_1, [db, str(tmp_path / "rdm.npz")], env, tmp_path)

    # refused in one line before the database is opened
    errors = first["errors"]
    assert errors["typo"].startswith("ValueError: no model matches 'brainscore:not_there'")
    assert errors["nothing"].startswith("ValueError: no model matches 'brainscore:zzz_*'")
    assert errors["random"].startswith("ValueError: random_weights applies to networks; RDM model lab-rdms")
    assert errors["clash"].startswith("ValueError: RDM model identifier 'lbtest_tiny_a' is a model id")
    assert errors["object"].startswith("TypeError: models[0] is of type object")
    assert all("\n" not in message for message in errors.values())
    assert first["db_after_errors"] is False
    assert first["resolved"] == ["brainscore:alexnet", "brainscore:my_tiny", "lbtest_tiny_a", "lbtest_tiny_b"]

    assert first["models"] == ["brainscore:my_tiny", "lbtest_tiny_a", "lab-rdms"]
    by_model = {o["model"]: o for o in first["outcomes"]}
    assert [o["status"] for o in first["outcomes"]] == ["scored"] * 3, first["outcomes"]
    tiny, rdms = by_model["brainscore:my_tiny"], by_model["lab-rdms"]
    assert tiny["hash"] == first["hash7"]
    assert tiny["score"] == pytest.approx(first["direct7"], abs=1e-12)
    # the RDM model's raw score is the independent Spearman mean; the brainscore model's conv2 similarity agrees
    assert rdms["raw"] == pytest.approx(expected_raw, abs=1e-9)
    similarity = tiny["attrs"]["similarity"]
    assert similarity["dims"] == ["roi", "layer", "subject"]
    conv2 = similarity["coords"]["layer"].index("conv2")
    assert np.mean(np.asarray(similarity["values"])[0, conv2]) == pytest.approx(expected_raw, abs=1e-4)
    assert rdms["hash"] == first["content_hash"]
    provenance = rdms["attrs"]["model_provenance"]
    assert provenance["content_sha256"] == first["content_hash"] and provenance["kind"] == "rdms"
    assert provenance["dissimilarity_measure"] == "1 - Pearson (conv2)"

    # the plugin's weights change: its row is keyed by the new hash and scored again; the others are cached
    (plugin / "model.py").write_text(MODEL_PY.replace("SEED = 7", "SEED = 8"))
    second = _run(PHASE_2, [db, str(tmp_path / "rdm.npz"), str(tmp_path / "board.html")], env, tmp_path)
    assert second["code"] == 0
    lines = {line.split()[0]: line.split()[2] for line in second["printed"].splitlines() if "kriegeskorte" in line}
    assert lines == {"brainscore:my_tiny": "scored", "lbtest_tiny_a": "cached"}, second["printed"]
    assert [o["status"] for o in second["again"]] == ["cached"]
    tiny_rows = [r for r in second["rows"] if r["model"] == "brainscore:my_tiny"]
    assert [r["weights_hash"] for r in tiny_rows] == [first["hash7"], second["hash8"]]
    assert first["hash7"] != second["hash8"]
    assert tiny_rows[1]["score"] == pytest.approx(second["direct8"], abs=1e-12)  # not the stale seed-7 activations
    assert tiny_rows[1]["score"] != pytest.approx(tiny_rows[0]["score"], abs=1e-6)
    assert len(second["rows"]) == 4

    page = (tmp_path / "board.html").read_text(encoding="utf-8")
    row = re.search(r'<tr data-model="lab-rdms".*?</tr>', page).group(0)
    note = html.unescape(re.search(r'<span class="provenance"[^>]*>(.*?)</span>', row).group(1))
    assert "source: \u2026/tiny_conv2.npz" in note and "/home/lab" not in page  # path redacted
    assert "measure: 1 - Pearson (conv2)" in note
    assert f"content sha256 {first['content_hash'][:12]}" in note
    assert f'data-value="{first["content_hash"]}"' in row  # the weights column holds the content hash
    tiny_row = re.search(r'<tr data-model="brainscore:my_tiny".*?</tr>', page).group(0)
    assert 'class="provenance"' not in tiny_row and f'data-value="{second["hash8"]}"' in tiny_row
