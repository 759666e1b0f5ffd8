"""``brainscore:<id>``: a Brain-Score model plugin written here into a copy of brainscore_vision's plugin layout.

The copy holds brainscore_vision's code (not its data, benchmark or model plugin folders, except two model plugins'
``__init__.py`` files for listing) plus ``models/my_tiny`` (``__init__.py`` registering ``my_tiny``, ``model.py``
building a ``ModelCommitment`` around a tiny seeded network with ``PytorchWrapper``). A subprocess with the copy
first on ``sys.path`` lists and scores it; nothing touches the network.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import brainscore_vision
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
TINY = textwrap.dedent('''
    import torch

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = torch.nn.Conv2d(3, 6, 5, stride=2)
            self.relu = torch.nn.ReLU()
            self.conv2 = torch.nn.Conv2d(6, 8, 3, stride=2)
            self.pool = torch.nn.AdaptiveAvgPool2d(4)
            self.fc = torch.nn.Linear(128, 10)

        def forward(self, x):
            return self.fc(self.pool(self.conv2(self.relu(self.conv1(x)))).flatten(1))

    def build_tiny():
        torch.manual_seed(7)
        return Tiny().eval()
''')
MODEL_PY = TINY + textwrap.dedent('''
    import functools
    from brainscore_vision.model_helpers.activations.pytorch import PytorchWrapper, load_preprocess_images
    from brainscore_vision.model_helpers.brain_transformation import ModelCommitment

    def get_model(name):
        assert name == "my_tiny"
        preprocessing = functools.partial(load_preprocess_images, image_size=64)
        wrapper = PytorchWrapper(model=build_tiny(), preprocessing=preprocessing, identifier=name)
        # no region_layer_map: Brain-Score's lazy layer selection (benchmark downloads) must not be triggered
        return ModelCommitment(identifier=name, activations_model=wrapper, layers=["conv1", "conv2", "pool"])
''')
INIT_PY = textwrap.dedent('''
    from brainscore_vision import model_registry
    from .model import get_model

    model_registry["my_tiny"] = lambda: get_model("my_tiny")
''')
SCRIPT = TINY + textwrap.dedent('''
    import json, os, sys
    import brainscore_vision
    from model_registry import Preprocessing, list_models, wrap
    from model_registry.storage.fingerprint import weights_hash
    from realnet_plugin.api import load_model, score

    ids = list_models("brainscore:*")
    model = load_model("brainscore:my_tiny")
    result = score("brainscore:my_tiny", "kriegeskorte2008-hit-rsa", n_bootstrap=0)
    direct = score(wrap(build_tiny(), layers=["conv1", "conv2", "pool"], preprocessing=Preprocessing(image_size=64)),
                   "kriegeskorte2008-hit-rsa", n_bootstrap=0)
    try:
        load_model("brainscore:not_there").network
        missing = ""
    except Exception as error:
        missing = f"{type(error).__name__}: {error}"
    json.dump({"brainscore_vision": brainscore_vision.__file__, "ids": ids, "layers": list(model.layers),
               "identifier": result.attrs["model_identifier"], "hash": weights_hash(model.network),
               "direct_hash": weights_hash(build_tiny()), "score": float(result), "direct": float(direct),
               "similarity": result.attrs["similarity"].values.tolist(),
               "direct_similarity": direct.attrs["similarity"].values.tolist(),
               "install": os.environ.get("BS_INSTALL_DEPENDENCIES"), "missing": missing}, sys.stdout)
''')


def _copy_brainscore_vision(target: Path) -> Path:
    source = Path(brainscore_vision.__file__).parent
    skip = {"data", "benchmarks", "models"}

    def ignore(folder, names):
        if Path(folder) == source:
            return [n for n in names if n in skip or n == "__pycache__"]
        return [n for n in names if n == "__pycache__"]

    package = target / "brainscore_vision"
    shutil.copytree(source, package, ignore=ignore)
    for name in skip:
        (package / name).mkdir()
        shutil.copyfile(source / name / "__init__.py", package / name / "__init__.py")
    for plugin in ("alexnet", "resnet50_tutorial"):  # registrations only, to be listed (never imported here)
        if (source / "models" / plugin / "__init__.py").is_file():
            (package / "models" / plugin).mkdir()
            shutil.copyfile(source / "models" / plugin / "__init__.py", package / "models" / plugin / "__init__.py")
    plugin = package / "models" / "my_tiny"
    plugin.mkdir()
    (plugin / "__init__.py").write_text(INIT_PY)
    (plugin / "model.py").write_text(MODEL_PY)
    return package


def test_a_plugin_written_here_lists_loads_and_scores_like_the_same_network_wrapped(tmp_path, kriegeskorte2008_dir):
    site = tmp_path / "site"
    package = _copy_brainscore_vision(site)
    data = tmp_path / "data"
    shutil.copytree(kriegeskorte2008_dir, data / "kriegeskorte2008")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]), "REALNET_DATA_DIR": str(data),
           "BS_INSTALL_DEPENDENCIES": "no", "RESULTCACHING_HOME": str(tmp_path / "result_caching")}
    (tmp_path / "script.py").write_text(SCRIPT)
    done = subprocess.run([sys.executable, str(tmp_path / "script.py")], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(out["brainscore_vision"]).parent == package  # the copy, not the installed package
    assert "brainscore:my_tiny" in out["ids"] and "brainscore:alexnet" in out["ids"]
    assert out["install"] == "no"  # left as the caller set it
    assert out["layers"] == ["conv1", "conv2", "pool"]  # the commitment's layers (its region map is lazy)
    assert out["identifier"] == "brainscore:my_tiny"
    assert out["hash"] == out["direct_hash"]
    assert out["score"] == pytest.approx(out["direct"], abs=1e-12)
    np.testing.assert_allclose(out["similarity"], out["direct_similarity"], rtol=0, atol=1e-12)
    assert out["missing"].startswith("UnknownModelError: brainscore_vision") and "'not_there'" in out["missing"]


def test_translated_preprocessing_matches_brainscore_pixels(tmp_path, image_files):
    """Brain-Score's ``load_preprocess_images`` (imagenet and inception kinds) vs our translation, per pixel."""
    import functools

    from brainscore_vision.model_helpers.activations.pytorch import load_preprocess_images

    from model_registry.brainscore_models import PluginPreprocessing, translate_preprocessing
    from model_registry.stimuli import as_stimuli

    stimuli = as_stimuli(image_files)
    for keywords in ({"image_size": 64}, {"image_size": 96, "normalize_mean": (0.5, 0.4, 0.3)},
                     {"image_size": 100, "preprocess_type": "inception"}):
        function = functools.partial(load_preprocess_images, **keywords)
        ours = translate_preprocessing(function)
        assert ours is not None, keywords
        theirs = load_preprocess_images([str(p) for p in image_files], **keywords)
        mine = np.stack([ours(stimuli.image(i)).numpy() for i in range(len(stimuli))])
        np.testing.assert_allclose(mine, theirs, atol=1e-5, err_msg=str(keywords))
        plugin = PluginPreprocessing(function, "test")  # the fallback path gives the same pixels
        np.testing.assert_allclose(plugin(stimuli.image(0)).numpy(), theirs[0], atol=1e-6)
    assert translate_preprocessing(lambda paths: paths) is None
    custom = PluginPreprocessing(functools.partial(load_preprocess_images, image_size=64), "a")
    other = PluginPreprocessing(functools.partial(load_preprocess_images, image_size=65), "a")
    assert custom.descriptor() != other.descriptor()


def test_plugin_registrations_read_the_registry_lines_as_brainscore_greps_them(tmp_path):
    from model_registry.brainscore_ids import plugin_registrations
    from realnet_plugin.brainscore.submission import existing_registration

    files = {
        "models/b_plugin/__init__.py": "model_registry[ \"net-1\" ] = lambda: None\nbenchmark_registry['x'] = None\n",
        "models/a_plugin/__init__.py": "from x import y\nmodel_registry['net-2'] = y\nmodel_registry['net-1'] = y\n",
        "models/_private/__init__.py": "model_registry['hidden'] = None\n",
        "benchmarks/c_bench/__init__.py": "benchmark_registry['bench-1'] = None\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert plugin_registrations("models", tmp_path) == {"net-2": "a_plugin", "net-1": "a_plugin"}
    assert plugin_registrations("benchmarks", tmp_path) == {"bench-1": "c_bench"}
    assert existing_registration("model", "net-1", tmp_path) == "a_plugin"
    assert existing_registration("benchmark", "net-1", tmp_path) is None
    with pytest.raises(ValueError, match="plugin_type"):
        plugin_registrations("metrics", tmp_path)
