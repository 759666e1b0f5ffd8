"""Importing realnet_plugin leaves Brain-Score working exactly as before (issue 14, section 1).

Each check runs in a fresh interpreter (offline), once without our import and once with it, and the results of
Brain-Score's own loaders (a metric, a ceiling, a model, a dataset-free benchmark, and the errors for unknown ids of
every plugin type) must be identical. The run with our import also checks that our ids are listed in Brain-Score's
registries at import and that ids created or resolved later are found by Brain-Score's ``load_model``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from model_registry.realnet import ReAlnetConfig, TrainedRun, model_id

HOST_CHECK = r'''
import json, sys
import numpy as np

WITH_OURS = sys.argv[1] == "with"
if WITH_OURS:
    import realnet_plugin  # noqa: F401
import brainscore_vision as bv
from brainscore_core.supported_data_standards.brainio.assemblies import NeuroidAssembly
from brainscore_core.supported_data_standards.brainio.stimuli import StimulusSet

rng = np.random.default_rng(0)
n, k = 40, 12
objects = [f"o{o}" for o in np.repeat(np.arange(4), 10)]
ids = [f"s{i}" for i in range(n)]

def assembly(values, prefix, reps=1):
    return NeuroidAssembly(values, coords={
        "stimulus_id": ("presentation", ids * reps), "object_name": ("presentation", objects * reps),
        "repetition": ("presentation", np.repeat(np.arange(reps), n)),
        "neuroid_id": ("neuroid", [f"{prefix}{j}" for j in range(values.shape[1])]),
        "region": ("neuroid", ["IT"] * values.shape[1])}, dims=["presentation", "neuroid"])

source = rng.normal(size=(n, 30))
target = source[:, :k] @ rng.normal(size=(k, k)) + rng.normal(0, 0.5, (n, k))
out = {"import_plugin": bv.import_plugin.__module__ + "." + bv.import_plugin.__name__}
out["pls"] = float(bv.load_metric("pls")(assembly(source, "m"), assembly(target, "n")))
repeated = np.concatenate([target + rng.normal(0, 1, target.shape) for _ in range(6)])
out["internal_consistency"] = float(bv.load_ceiling("internal_consistency")(assembly(repeated, "n", reps=6)))

model = bv.load_model("pixels")
stimuli = StimulusSet([{"stimulus_id": f"p{i}"} for i in range(3)])
stimuli.stimulus_paths = {f"p{i}": f"{sys.argv[2]}/p{i}.png" for i in range(3)}
stimuli.identifier = "host-check-pixels"
pixels = model.activations_model(stimuli, layers=["pixels"])
out["model"] = [type(model).__name__, list(pixels.shape), float(pixels.values.astype(np.float64).sum())]

benchmark = bv.load_benchmark("ImageNet-top1")
out["benchmark"] = [type(benchmark).__name__, benchmark.identifier, len(benchmark._stimulus_set),
                    float(benchmark.ceiling)]
for kind, load in (("dataset", bv.load_dataset), ("stimulus_set", bv.load_stimulus_set),
                   ("metric", bv.load_metric), ("ceiling", bv.load_ceiling), ("model", bv.load_model),
                   ("benchmark", bv.load_benchmark)):
    try:
        load("no_such_plugin_anywhere")
        out["unknown_" + kind] = "no error"
    except Exception as error:
        out["unknown_" + kind] = [type(error).__name__, str(error)]
print("HOST " + json.dumps(out, sort_keys=True))

if WITH_OURS:
    import benchmarks
    import model_registry

    ours = {"models_not_listed": sorted(set(model_registry.list_models()) - set(bv.model_registry)),
            "benchmarks_not_listed": sorted(set(benchmarks.list_benchmarks()) - set(bv.benchmark_registry)),
            "trained_at_import": "realnet_s03_b10" in bv.model_registry,
            "pixels_is_brainscores": "pixels" not in model_registry.list_models()}
    sys.path.insert(0, sys.argv[3])
    from test_bridge_host import fake_trained_run

    fake_trained_run(model_registry.storage.paths.models_dir(), 4, 10)  # a run that appears after the import
    ours["new_run"] = [type(bv.load_model("realnet_s04_b10")).__name__, bv.load_model("realnet_s04_b10").identifier]
    ours["family_id"] = bv.load_model("timm:resnet10t").identifier
    ours["listed_benchmark"] = type(bv.load_benchmark("things-eeg-rsa")).__name__
    print("OURS " + json.dumps(ours, sort_keys=True))
'''


def fake_trained_run(models: Path, subject: int, beta: float) -> Path:
    """A trained-run folder (config + a stand-in ``model.pt`` whose sha256 the config records); never built."""
    folder = models / model_id(subject, beta)
    folder.mkdir(parents=True)
    torch.save({}, folder / "model.pt")
    sha = hashlib.sha256((folder / "model.pt").read_bytes()).hexdigest()
    run = dataclasses.replace(TrainedRun(subject, float(beta), ReAlnetConfig()), weights_sha256=sha)
    (folder / "config.json").write_text(run.to_json())
    return folder


def _run(mode: str, images, home) -> dict[str, dict]:
    env = {**os.environ, "REALNET_HOME": str(home), "BS_INSTALL_DEPENDENCIES": "no", "RESULTCACHING_DISABLE": "1",
           "BRAINSCORE_HOME": str(home / "brainscore"), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([sys.executable, "-c", HOST_CHECK, mode, str(images), str(Path(__file__).parent)],
                          cwd=images, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return {line.split(" ", 1)[0]: json.loads(line.split(" ", 1)[1]) for line in done.stdout.splitlines()
            if line.startswith(("HOST ", "OURS "))}


def test_brainscore_loaders_are_unchanged_by_our_import_and_our_ids_are_listed(tmp_path, realnet_home):
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(1)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (20 + i, 24, 3), dtype=np.uint8)).save(images / f"p{i}.png")
    fake_trained_run(realnet_home / "models", 3, 10)  # a local run present before the import

    without, with_ours = _run("without", images, realnet_home), _run("with", images, realnet_home)
    host = without["HOST"]
    assert host["import_plugin"] == "brainscore_core.plugin_management.import_plugin.import_plugin"
    assert 0 < host["pls"] < 1 and 0 < host["internal_consistency"] < 1
    assert host["model"][:2] == ["ModelCommitment", [3, 256 * 256 * 3]]
    assert host["benchmark"][:2] == ["Imagenet2012", "ImageNet-top1"] and host["benchmark"][3] == 1.0
    assert host["unknown_metric"] == ["AssertionError", "No registrations found for no_such_plugin_anywhere"]
    for kind in ("dataset", "stimulus_set", "ceiling", "model", "benchmark"):
        assert host[f"unknown_{kind}"] == host["unknown_metric"]
    # identical results with our package imported (only the wrapper's module differs)
    assert with_ours["HOST"].pop("import_plugin") == "brainscore_core.plugin_management.import_plugin.import_plugin"
    host.pop("import_plugin")
    assert with_ours["HOST"] == host

    ours = with_ours["OURS"]
    assert ours["models_not_listed"] == [] and ours["benchmarks_not_listed"] == []
    assert ours["trained_at_import"] is True and ours["pixels_is_brainscores"] is True
    assert ours["new_run"] == ["RegisteredModel", "realnet_s04_b10"]
    assert ours["family_id"] == "timm:resnet10t"
    assert ours["listed_benchmark"] == "ThingsEEGRsaBenchmark"
