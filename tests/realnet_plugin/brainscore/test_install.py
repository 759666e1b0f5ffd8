"""The Brain-Score room's explicit ``install()`` / ``uninstall()`` (issue 13, section 1).

Importing ``model_registry`` or ``benchmarks`` leaves ``brainscore_vision`` exactly as it was; ``install()`` is
idempotent; ``uninstall()`` restores the original ``import_plugin`` object and every registry entry. The expected
state is ``brainscore_vision`` itself before anything of ours ran (a snapshot of its function and registry dicts,
entry by entry, by identity), taken in a fresh interpreter: test registrations in this process would pollute it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from brainscore_core.benchmarks import Benchmark

SNAPSHOT = r'''
import json, sys
import brainscore_vision as bv

REGISTRIES = ("data_registry", "stimulus_set_registry", "metric_registry", "benchmark_registry", "model_registry")

def snapshot():
    """The host's state by identity: import_plugin, and every registry's dict object and (id, value object) pairs."""
    return (id(bv.import_plugin), {name: (id(getattr(bv, name)), {k: id(v) for k, v in getattr(bv, name).items()})
                                   for name in REGISTRIES})

def report(tag, **values):
    print(tag + " " + json.dumps(values, sort_keys=True), flush=True)
'''

IMPORTS_ONLY = SNAPSHOT + r'''
original, before = bv.import_plugin, snapshot()
import model_registry, benchmarks  # noqa: E401
import benchmarks.registry, model_registry.brainscore_models, model_registry.registry  # noqa: E401
listed = (model_registry.list_models(), model_registry.list_models("brainscore:alex*"), benchmarks.list_benchmarks())
report("IMPORTS", unchanged=snapshot() == before, original=bv.import_plugin is original,
       n_models=len(listed[0]), n_brainscore=len(listed[1]), n_benchmarks=len(listed[2]),
       room_loaded="realnet_plugin.brainscore.bridge" in sys.modules)
'''

INSTALL_CYCLE = SNAPSHOT + r'''
from torch import nn
original, before = bv.import_plugin, snapshot()
import model_registry
from model_registry import register_model

register_model("pixels", family="test", layers=("0",), region_layer_map={"IT": "0"})(lambda p: nn.Flatten())
import realnet_plugin  # a Python session: the import installs the room
from realnet_plugin.brainscore import install, is_installed, uninstall

wrapper, installed = bv.import_plugin, snapshot()
report("INSTALLED", installed=is_installed(), wrapped=wrapper is not original,
       models=sorted(set(bv.model_registry) & {"cornet_s", "realnet_s03_b10", "pixels"}),
       benchmarks=sorted(set(bv.benchmark_registry) & {"kriegeskorte2008-hit-rsa", "things-fmri-roi.V1"}),
       others_unchanged=installed[1]["data_registry"] == before[1]["data_registry"]
       and installed[1]["metric_registry"] == before[1]["metric_registry"]
       and installed[1]["stimulus_set_registry"] == before[1]["stimulus_set_registry"])
install()
install()
report("AGAIN", same=snapshot() == installed, same_wrapper=bv.import_plugin is wrapper)
register_model("test_late_net", family="test", layers=("0",), region_layer_map={"IT": "0"})(lambda p: nn.Flatten())
late = "test_late_net" in bv.model_registry
pixels = type(bv.load_model("pixels")).__name__  # Brain-Score's plugin answers, not our registration of the id
timm = bv.load_model("timm:resnet10t").identifier  # a family id: resolved by the wrapper on lookup

bv.import_plugin = lambda *args, **kwargs: wrapper(*args, **kwargs)  # another package wraps on top of ours
try:
    uninstall()
    refused = "no error"
except RuntimeError as error:
    refused = str(error)
still = is_installed()
bv.import_plugin = wrapper
uninstall()
restored = snapshot()
uninstall()
report("UNINSTALLED", refused=refused, still_installed_after_refusal=still, installed=is_installed(),
       original=bv.import_plugin is original, pixels=pixels, late=late, timm=timm,
       restored_except_pixels=restored[0] == before[0]
       and {k: v for k, v in restored[1].items() if k != "model_registry"}
       == {k: v for k, v in before[1].items() if k != "model_registry"},
       model_registry_extra=sorted(set(bv.model_registry) - set(before[1]["model_registry"][1])),
       same_again=snapshot() == restored)
register_model("test_after_net", family="test", layers=("0",), region_layer_map={"IT": "0"})(lambda p: nn.Flatten())
try:
    bv.load_model("cornet_s")
    after = "found"
except AssertionError as error:
    after = str(error)
report("AFTER", after_net="test_after_net" in bv.model_registry, cornet=after)
install()
report("REINSTALLED", cornet=type(bv.load_model("cornet_s")).__name__, after_net="test_after_net" in bv.model_registry)
'''


def _run(code: str, home: Path) -> dict[str, dict]:
    env = {**os.environ, "REALNET_HOME": str(home), "BS_INSTALL_DEPENDENCIES": "no", "RESULTCACHING_DISABLE": "1",
           "BRAINSCORE_HOME": str(home / "brainscore"), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent)], cwd=home, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return {line.split(" ", 1)[0]: json.loads(line.split(" ", 1)[1]) for line in done.stdout.splitlines()
            if line[:1].isupper() and " {" in line}


def test_importing_the_registries_leaves_brainscore_untouched(realnet_home):
    found = _run(IMPORTS_ONLY, realnet_home)["IMPORTS"]
    assert found["unchanged"] is True and found["original"] is True
    assert found["n_models"] > 5 and found["n_brainscore"] > 1 and found["n_benchmarks"] > 5  # they did load
    assert found["room_loaded"] is False


def test_install_is_idempotent_and_uninstall_restores_brainscore_exactly(realnet_home):
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        from test_bridge_host import fake_trained_run
    finally:
        sys.path.remove(str(Path(__file__).parent))
    fake_trained_run(realnet_home / "models", 3, 10)  # a trained run on disk: listed at install
    found = _run(INSTALL_CYCLE, realnet_home)
    installed = found["INSTALLED"]
    assert installed["installed"] is True and installed["wrapped"] is True
    assert installed["models"] == ["cornet_s", "realnet_s03_b10"]  # "pixels" is Brain-Score's id, never ours there
    assert installed["benchmarks"] == ["kriegeskorte2008-hit-rsa", "things-fmri-roi.V1"]  # a listed family member
    assert installed["others_unchanged"] is True
    assert found["AGAIN"] == {"same": True, "same_wrapper": True}
    gone = found["UNINSTALLED"]
    assert gone["refused"].startswith("brainscore_vision.import_plugin was replaced after")
    assert gone["still_installed_after_refusal"] is True
    assert gone["installed"] is False and gone["original"] is True
    assert gone["late"] is True and gone["pixels"] == "ModelCommitment" and gone["timm"] == "timm:resnet10t"
    # Brain-Score's own "pixels" plugin, loaded while we were installed, stays registered (it is Brain-Score's)
    assert gone["restored_except_pixels"] is True and gone["model_registry_extra"] == ["pixels"]
    assert gone["same_again"] is True
    assert found["AFTER"] == {"after_net": False, "cornet": "No registrations found for cornet_s"}
    assert found["REINSTALLED"] == {"cornet": "RegisteredModel", "after_net": True}


# --- brainscore_vision.score on our ids, in this process ---------------------------------------------------------
def _tiny(pretrained: bool) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, stride=4), torch.nn.ReLU(), torch.nn.Flatten())


class _MeanResponseBenchmark(Benchmark):
    """A minimal Brain-Score benchmark: records IT on two images, scores their mean response."""

    identifier = "test-mean-it"

    def __init__(self, stimuli):
        self.stimuli = stimuli

    def __call__(self, candidate):
        from brainscore_core.metrics import Score

        candidate.start_recording("IT", [(70, 170)])
        responses = candidate.look_at(self.stimuli)
        return Score(float(np.asarray(responses).mean()))


@pytest.fixture
def installed():
    """The room installed for the test (and uninstalled after it unless it was installed before)."""
    from realnet_plugin.brainscore import install, is_installed, uninstall

    was = is_installed()
    install()
    yield
    if not was:
        uninstall()


def test_brainscore_vision_score_reaches_our_ids(image_files, installed):
    import brainscore_vision

    from benchmarks.registry import register_benchmark
    from model_registry import Preprocessing, RegisteredModel, load_model, register_model

    register_model("test_tiny_net", family="test", layers=("0", "2"), region_layer_map={"IT": "2"},
                   preprocessing=Preprocessing(image_size=32))(_tiny)
    register_benchmark("test-mean-it", lambda: _MeanResponseBenchmark(image_files[:2]))
    score = brainscore_vision.score("test_tiny_net", "test-mean-it")
    direct = _MeanResponseBenchmark(image_files[:2])(load_model("test_tiny_net"))
    assert float(score) == pytest.approx(float(direct)) and float(score) > 0
    assert score.attrs["model_identifier"] == "test_tiny_net"
    assert {"cornet_s", "efficientnet_lite0", "resnet101", "test_tiny_net"} <= set(brainscore_vision.model_registry)
    assert isinstance(brainscore_vision.load_model("cornet_s"), RegisteredModel)
    assert brainscore_vision.load_model("torchvision:alexnet").identifier == "torchvision:alexnet"
    with pytest.raises(AssertionError, match="No registrations found"):
        brainscore_vision.load_model("no_such_model_anywhere")
