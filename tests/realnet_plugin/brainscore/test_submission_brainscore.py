"""Generated plugins under Brain-Score's own checks: ``validate_metadata_file``, the generic model plugin tests and
its ``ModelCommitment``, run offline in a copy of the installed brainscore_vision with realnet-plugin's packages
made unimportable (a model plugin must be self-contained)."""
import json
import os
import re
import shutil
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import brainscore_vision
import numpy as np
import pytest
import yaml
from brainscore_core.plugin_management.handle_metadata import validate_metadata_file
from brainscore_core.supported_data_standards.brainio.stimuli import StimulusSet
from PIL import Image

from model_registry import get_spec
from model_registry.storage.fingerprint import weights_hash
from model_registry.storage.safe_zip import safe_extract
from realnet_plugin import load_model
from realnet_plugin.brainscore.submission import benchmark_data, model_plugin_files, plugin_dirname
from realnet_plugin.cli import main

MODEL = "efficientnet_lite0"
BENCHMARK_AS = "Kriegeskorte2008.hIT-rsa-realnet"

BLOCKED_RUN = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('realnet_plugin', 'model_registry', 'benchmarks'):
            raise ImportError('the plugin imported ' + name + ', which Brain-Score does not have')
sys.meta_path.insert(0, Block())
sys.path.insert(0, {copy!r})
"""

PLUGIN_OUTPUTS = """
import numpy as np
import brainscore_vision
from brainscore_vision import load_model
from brainscore_vision.models.{plugin}.model import load_preprocess_images
from brainscore_vision.model_helpers.generic_plugin_tests import _make_stimulus_set

assert brainscore_vision.__file__.startswith({copy!r})
stimuli = _make_stimulus_set()
paths = [stimuli.get_stimulus(i) for i in stimuli['stimulus_id']]
np.save({out!r} + '/pixels.npy', load_preprocess_images(paths))
model = load_model({model!r})
model.start_recording('IT', [(70, 170)])
features = model.look_at(stimuli, number_of_trials=1)
features = features.transpose('presentation', ...)
order = [list(features['stimulus_id'].values).index(i) for i in stimuli['stimulus_id']]
np.save({out!r} + '/it.npy', np.asarray(features.values).reshape(3, -1)[order])
"""


@pytest.fixture(scope="module")
def brainscore_copy(tmp_path_factory) -> Path:
    """A copy of the installed brainscore_vision, with the generic tests' three images (the wheel lacks them)."""
    root = tmp_path_factory.mktemp("brainscore_copy")
    shutil.copytree(Path(brainscore_vision.__file__).parent, root / "brainscore_vision",
                    ignore=shutil.ignore_patterns("__pycache__"))
    resources = root / "brainscore_vision" / "model_helpers" / "generic_plugin_tests_resources"
    resources.mkdir(exist_ok=True)
    rng = np.random.default_rng(3)
    for name, size in (("rgb1.jpg", (96, 128)), ("rgb2.jpg", (120, 80)), ("rgb3.png", (100, 100))):
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(resources / name)
    return root


def _run_blocked(copy: Path, code: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "BS_INSTALL_DEPENDENCIES": "no", "REALNET_HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1",
           "RESULTCACHING_DISABLE": "1", "RESULTCACHING_HOME": str(home / "result_caching"),
           "TORCH_HOME": str(home / "torch")}
    env.pop("PYTHONPATH", None)
    return subprocess.run([sys.executable, "-c", BLOCKED_RUN.format(copy=str(copy)) + code], cwd=copy, env=env,
                          capture_output=True, text=True, timeout=600)


def _requirement_names(text: str) -> list[str]:
    return [re.split(r"[=<>!~ \[@;]", line.strip(), maxsplit=1)[0] for line in text.splitlines()
            if line.strip() and not line.startswith("#")]


def test_model_plugin_is_self_contained_and_passes_brainscore(tmp_path, brainscore_copy, realnet_home):
    model_zip, bench_zip = tmp_path / "model.zip", tmp_path / "benchmark.zip"
    assert main(["submit", MODEL, "--out", str(model_zip)]) == 0
    assert main(["submit", "--benchmark", "kriegeskorte2008-hit-rsa", "--as", BENCHMARK_AS, "--out",
                 str(bench_zip)]) == 0
    library = brainscore_copy / "brainscore_vision"
    safe_extract(model_zip, library)
    safe_extract(bench_zip, library)
    model_dir, bench_dir = library / "models" / MODEL, library / "benchmarks" / plugin_dirname(BENCHMARK_AS)

    # Brain-Score's metadata validation accepts both files
    for metadata in (model_dir / "metadata.yaml", bench_dir / "metadata.yaml"):
        errors, document = validate_metadata_file(str(metadata))
        assert errors == [] and document is not None, (metadata, errors)
    bench_meta = yaml.safe_load((bench_dir / "metadata.yaml").read_text())["benchmarks"][BENCHMARK_AS]
    assert bench_meta["data"]["num_subjects"] == 4 and bench_meta["stimulus_set"]["num_stimuli"] == 92
    assert "data Kriegeskorte2008" in bench_meta["data"]["extra_notes"]
    assert "DATA_IDENTIFIER = 'Kriegeskorte2008'" in (bench_dir / "benchmark.py").read_text()

    # self-contained: PyPI packages only, the published file's identity, Brain-Score's region_layer_map file
    names = _requirement_names((model_dir / "requirements.txt").read_text())
    assert not any(name.startswith("realnet") for name in names)
    for name in names:  # every requirement is a distribution installed here from PyPI
        try:
            version(name)
        except PackageNotFoundError:
            pytest.fail(f"requirement {name} is not an installed distribution")
    weights = json.loads((model_dir / "weights.json").read_text())["files"][MODEL]
    network = load_model(MODEL).network
    assert weights["sha256"] == "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
    assert weights["tensors_sha256"] == weights_hash(network)
    assert json.loads((model_dir / "region_layer_map" / f"{MODEL}.json").read_text()) == \
        get_spec(MODEL).region_layer_map
    metadata = yaml.safe_load((model_dir / "metadata.yaml").read_text())["models"][MODEL]
    assert metadata["model"]["parameter_count"] == sum(p.numel() for p in network.parameters())

    # Brain-Score's generic model tests and the plugin's own test.py, realnet-plugin unimportable
    generic = library / "model_helpers" / "generic_plugin_tests.py"
    run = _run_blocked(brainscore_copy, "import pytest\nsys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', "
                       f"'--rootdir', {str(brainscore_copy)!r}, {str(generic)!r}, {str(model_dir / 'test.py')!r}, "
                       f"'--plugin_directory', {str(model_dir)!r}]))", realnet_home)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    summary = run.stdout.strip().splitlines()[-1]
    assert "failed" not in summary and "skipped" not in summary
    assert int(summary.split(" passed")[0].split()[-1]) == 5 + 3  # 5 generic checks + 3 of the plugin

    # the plugin's pixels and IT features equal ours (our Preprocessing and extractor: a second path)
    run = _run_blocked(brainscore_copy, PLUGIN_OUTPUTS.format(copy=str(brainscore_copy), plugin=MODEL,
                                                              model=MODEL, out=str(tmp_path)), realnet_home)
    assert run.returncode == 0, run.stderr[-3000:]
    resources = library / "model_helpers" / "generic_plugin_tests_resources"
    paths = [resources / name for name in ("rgb1.jpg", "rgb2.jpg", "rgb3.png")]
    preprocessing = get_spec(MODEL).preprocessing
    ours = np.stack([preprocessing(Image.open(path)).numpy() for path in paths])
    np.testing.assert_allclose(np.load(tmp_path / "pixels.npy"), ours, atol=1e-6)
    stimuli = StimulusSet({"stimulus_id": ["stimid1", "stimid2", "stimid3"], "object_name": ["rgb"] * 3})
    stimuli.stimulus_paths = dict(zip(stimuli["stimulus_id"], paths))
    stimuli.identifier = "plugin-equality"
    model = load_model(MODEL)
    model.start_recording("IT", [(70, 170)])
    mine = model.look_at(stimuli, number_of_trials=1)
    mine = mine.transpose("presentation", ...)
    order = [list(mine["stimulus_id"].values).index(i) for i in stimuli["stimulus_id"]]
    mine = np.asarray(mine.values).reshape(3, -1)[order]
    plugin = np.load(tmp_path / "it.npy")
    assert plugin.shape == mine.shape
    np.testing.assert_allclose(np.sort(plugin, axis=1), np.sort(mine, axis=1), rtol=1e-4, atol=1e-4)


def test_refusals_name_the_problem():
    with pytest.raises(ValueError, match=r"family 'clip'.*cannot be written as a self-contained"):
        model_plugin_files("clip_rn101", pin_weights=False)
    with pytest.raises(ValueError, match="no Brain-Score data description"):
        benchmark_data("no-such-benchmark")
    assert benchmark_data("things-fmri-roi.V1").region == "V1"
    assert benchmark_data("things-eeg-rsa").data_identifier == "Gifford2022"


def test_cornet_plugin_network_equals_ours(realnet_home):
    """The generated CORnet-S code rebuilds our network tensor for tensor (random weights: no download)."""
    import types

    import torch

    from model_registry.cornet import cornet_s_network

    files = model_plugin_files("cornet_s", pin_weights=False)
    source = files["models/cornet_s/network.py"]
    module = types.ModuleType("generated_cornet")
    exec(compile(source, "network.py", "exec"), module.__dict__)
    torch.manual_seed(0)
    ours = cornet_s_network().eval()
    checkpoint = realnet_home / "cornet.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in ours.state_dict().items()}}, checkpoint)
    theirs = module.build_network(checkpoint).eval()
    assert weights_hash(theirs) == weights_hash(ours)
    images = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(theirs(images), ours(images))
    weights = json.loads(files["models/cornet_s/weights.json"])["files"]["cornet_s"]
    assert weights["url"] == "https://s3.amazonaws.com/cornet-models/cornet_s-1d3f7974.pth"
    assert weights["hash_prefix"] == "1d3f7974"
    errors, _ = validate_metadata_file_text(files["models/cornet_s/metadata.yaml"], realnet_home)
    assert errors == []
    assert "test_network_has_the_published_tensors" not in files["models/cornet_s/test.py"]


def validate_metadata_file_text(text: str, folder: Path):
    path = folder / "metadata.yaml"
    path.write_text(text)
    return validate_metadata_file(str(path))


def test_locally_trained_weights_need_their_published_url(tmp_path):
    import dataclasses

    from model_registry.registry import TrainedRunInfo
    from realnet_plugin.brainscore.submission import network_recipe

    sha = "ab" * 32
    spec = dataclasses.replace(get_spec("cornet_s"), identifier="realnet_s01_b10", family="realnet", weights=None,
                               trained=TrainedRunInfo(folder=tmp_path, weights_sha256=sha))
    with pytest.raises(ValueError, match=r"local file .*model.pt \(sha256 abab.*publish that file and pass its https"):
        network_recipe(spec)
    with pytest.raises(ValueError, match="is not a public https:// address"):
        network_recipe(spec, weights_url="file:///tmp/model.pt")
    recipe = network_recipe(spec, weights_url="https://example.org/runs/model.pt")
    assert recipe.weights["sha256"] == sha and recipe.weights["url"] == "https://example.org/runs/model.pt"
    assert recipe.local_weights() == tmp_path / "model.pt" and recipe.template == "network_cornet_s.py.tmpl"
    assert [d["identifier"] for d in recipe.training_datasets] == ["imagenet-1k", "things-eeg2"]
