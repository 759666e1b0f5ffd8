"""The public verbs: ``score``, ``load_model``, ``load_benchmark``, ``list_models``, ``list_benchmarks``."""
from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping

from brainscore_core.benchmarks import score_benchmark
from brainscore_core.metrics import Score

import benchmarks
import model_registry
from benchmarks.registry import list_benchmarks as _list_benchmarks
from benchmarks.registry import load_benchmark as _load_benchmark


def load_model(identifier: str, **options) -> model_registry.RegisteredModel:
    """The registered model ``identifier`` as a Brain-Score ``BrainModel`` (options: ``pretrained``, ``device``,
    ``batch_size``, ``cache``, ``progress``)."""
    return model_registry.load_model(identifier, **options)


def load_benchmark(identifier: str, **options):
    """The benchmark ``identifier`` (a Brain-Score ``Benchmark``), built with ``options``."""
    return _load_benchmark(identifier, **options)


SHARED_BENCHMARKS = 4  # benchmark objects kept per process by shared_benchmark (each may hold GBs of EEG RDMs)
# (id, options JSON, thread id or None) -> benchmark; None: one object for every thread (a thread-safe benchmark)
_SHARED: OrderedDict[tuple[str, str, int | None], object] = OrderedDict()
_SHARED_LOCK = threading.Lock()
_RESERVED = 0  # raised by keep_shared_benchmarks (a leaderboard run's benchmark count), reset by forget


def _options_key(identifier: str, options: dict) -> str:
    def plain(value):
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        raise TypeError(f"shared_benchmark({identifier!r}): option value {value!r} is not JSON-shaped (numbers, "
                        "strings, booleans, lists, dicts, None); equal options could not be recognised")

    return json.dumps(options, sort_keys=True, default=plain)


def shared_benchmark(identifier: str, **options):
    """The benchmark ``identifier`` built with ``options``, ONE object per (id, options) in this process: later
    calls with equal options return the same object, whose data are read and validated once, whose EEG RDMs are
    ranked and noise ceiling computed once, and which scores any number of models (``score(model, benchmark)``).
    The one benchmark-reuse mechanism of the package: the leaderboard's workers use it too.

    Threads: a benchmark whose class declares ``thread_safe = True`` (ours: ``things-eeg-rsa*``, the fMRI ROI
    benchmarks, ``kriegeskorte2008-hit-rsa``, the robustness benchmarks; each guards its lazily read data with a
    lock) is one object for every thread; any other (a plugin's, a Brain-Score benchmark) is one object per
    thread, so two threads never share state the benchmark did not protect.

    Up to :data:`SHARED_BENCHMARKS` objects are kept, or more while :func:`keep_shared_benchmarks` asks for more
    (least recently used dropped first); :func:`forget_shared_benchmarks` drops them all. A benchmark object reads
    its files again only when their stamps change (e.g.
    :meth:`benchmarks.things_eeg_rsa.benchmark.ThingsEEGRsaBenchmark.validate`). Options must be JSON-shaped
    (``TypeError`` otherwise); bad options raise as :func:`load_benchmark`."""
    options_key = _options_key(identifier, options)
    thread = threading.get_ident()
    with _SHARED_LOCK:
        for key in ((identifier, options_key, None), (identifier, options_key, thread)):
            if key in _SHARED:
                _SHARED.move_to_end(key)
                return _SHARED[key]
    built = _load_benchmark(identifier, **options)  # outside the lock: building checks options only
    key = (identifier, options_key, None if getattr(built, "thread_safe", False) is True else thread)
    with _SHARED_LOCK:
        built = _SHARED.setdefault(key, built)
        _SHARED.move_to_end(key)
        while len(_SHARED) > max(SHARED_BENCHMARKS, _RESERVED):
            _SHARED.popitem(last=False)
    return built


def keep_shared_benchmarks(count: int) -> None:
    """Keep at least ``count`` benchmark objects in :func:`shared_benchmark` until
    :func:`forget_shared_benchmarks` (a leaderboard run keeps each of its benchmarks for all its models)."""
    global _RESERVED
    with _SHARED_LOCK:
        _RESERVED = max(_RESERVED, int(count))


def forget_shared_benchmarks() -> None:
    """Drop every benchmark object :func:`shared_benchmark` keeps (their memory is freed) and the count
    :func:`keep_shared_benchmarks` asked for."""
    global _RESERVED
    with _SHARED_LOCK:
        _SHARED.clear()
        _RESERVED = 0


def list_models(pattern: str = "*") -> list[str]:
    """Model ids matching the shell wildcard ``pattern`` (comma-separated for several)."""
    return model_registry.list_models(pattern)


def list_benchmarks(pattern: str = "*") -> list[str]:
    """Benchmark ids matching the shell wildcard ``pattern`` (comma-separated for several)."""
    return _list_benchmarks(pattern)


def validate_benchmark(benchmark) -> None:
    """Run the benchmark's own input checks (data files, metadata, subjects, option-vs-data fit) if it has any
    (``validate()``: our benchmarks; Brain-Score benchmarks have none). Raises their one-line errors."""
    check = getattr(benchmark, "validate", None)
    if callable(check):
        check()


WILDCARD_CHARACTERS = "*?["


def is_family(model) -> bool:
    """Whether ``model`` names several models: a list / tuple of ids, or an id holding a shell wildcard
    (``*``, ``?``, ``[``) or a comma."""
    if isinstance(model, (list, tuple)):
        return True
    return isinstance(model, str) and any(c in model for c in WILDCARD_CHARACTERS + ",")


def family_members(model, subjects_with_data=None) -> list:
    """The :class:`~benchmarks.things_eeg_rsa.benchmark.FamilyMember` s that ``model`` (a wildcard id or a list of
    ids or wildcards) names, in order, each with the subject its registered spec records (nothing is built).

    A wildcard keeps only matches whose subject is in ``subjects_with_data`` (when given), warning with the
    ones left out; an explicit id is always kept (the benchmark names a missing subject). Raises ``ValueError``
    for a pattern matching no registered model, or an empty list."""
    import fnmatch
    import warnings

    from benchmarks.things_eeg_rsa.benchmark import FamilyMember, spec_subject

    entries = [model] if isinstance(model, str) else list(model)
    if not entries or not all(isinstance(entry, str) and entry for entry in entries):
        raise ValueError(f"a model family is a wildcard id or a non-empty list of model ids, got {model!r}")
    members, seen, left_out = [], set(), []
    for entry in entries:
        for part in (p.strip() for p in entry.split(",") if p.strip()):
            wildcard = any(c in part for c in WILDCARD_CHARACTERS)
            ids = model_registry.list_models(part) if wildcard else [part]
            if wildcard:
                ids = [i for i in ids if fnmatch.fnmatchcase(i, part)]
            if not ids:
                raise ValueError(f"no registered model matches {part!r} (see `realnet list models`)")
            for identifier in ids:
                if identifier in seen:
                    continue
                seen.add(identifier)
                subject = spec_subject(model_registry.get_spec(identifier))
                if wildcard and subjects_with_data is not None and subject not in subjects_with_data:
                    left_out.append(f"{identifier} (subject {subject})")
                    continue
                members.append(FamilyMember(identifier, subject, lambda i=identifier: model_registry.load_model(i)))
    if left_out:
        warnings.warn(f"the family {model!r} leaves out {len(left_out)} matching model(s) whose subject has no EEG "
                      f"here or that have no subject: {', '.join(left_out)}", stacklevel=3)
    if not members:
        raise ValueError(f"no model of {model!r} has a subject with EEG here (subjects {subjects_with_data}); "
                         f"left out: {', '.join(left_out)}")
    return members


def score(model, benchmark, *, model_options: dict | None = None, preprocessing=None, stimulus_ids=None,
          **benchmark_options) -> Score:
    """Score ``model`` on ``benchmark`` (id or ``Benchmark``) -> Brain-Score ``Score``.

    ``model``: a registered id (``'cornet_s'``, ``'torchvision:resnet18'``, ``'brainscore:alexnet'``), a plain
    ``torch.nn.Module`` (with ``preprocessing=``, default ImageNet's, and the benchmark's ``layers=``), a Brain-Score
    ``ModelCommitment`` or other ``BrainModel``, or RDMs (an ``rsatoolbox.rdm.RDMs`` with a ``stimulus_id``
    pattern descriptor, or ``{layer: (n, n) array}`` with ``stimulus_ids=``); see
    :func:`benchmarks.candidates.as_candidate`. For RDMs ``attrs['model_provenance']`` says where they come from.

    A model family (``'realnet_s*_b100'``, a comma-separated or Python list of ids, see :func:`is_family`) on a
    ``things-eeg-rsa`` benchmark gives ONE group Score: each subject-specific model compared with its own
    subject's EEG (subject read from the model's registered spec), ``similarity`` ``(subject, layer, time)``,
    clusters per layer and the noise ceiling over the family's subjects, ``attrs['subject_models']`` the model
    of each subject (:meth:`~benchmarks.things_eeg_rsa.benchmark.ThingsEEGRsaBenchmark.score_family`). A wildcard
    leaves out (with a warning) matches whose subject has no EEG in the data. Score a plain model alongside with
    ``score_subjects=family.attrs['subjects']`` (or use :func:`improvement` with ids, which does that).

    Order: the benchmark is built (its options checked) and validated (its data read and checked, see
    :func:`validate_benchmark`) before the model is loaded, so a bad option or data file fails in one line before
    any network is built or activation extracted. The scalar is the benchmark's ceiled score; ``attrs`` carry
    ``raw``, ``ceiling`` and the benchmark's details, plus ``model_identifier`` and ``benchmark_identifier``, and
    for a registered model (or family) ``pretrained`` (``False``: a random initialisation,
    ``model_options={'pretrained': False}``) and ``seed`` (the torch seed it was built under, ``None``: unseeded).

    Raises ``ValueError`` (one line, before anything is read or built) for options that would be ignored:
    benchmark options (``method=``, ``layers=``, ...) with an already-built ``Benchmark`` object, model options /
    ``preprocessing`` / ``stimulus_ids`` with an already-built model or a family; each names the option and where
    to pass it. Also for a family on a benchmark without family scoring.
    """
    _refuse_ignored_options(model, benchmark, model_options or {}, preprocessing, stimulus_ids, benchmark_options)
    test = load_benchmark(benchmark, **benchmark_options) if isinstance(benchmark, str) else benchmark
    if is_family(model):
        return _score_family(model, test, benchmark, model_options or {})
    validate_benchmark(test)
    from benchmarks.candidates import as_candidate

    candidate = as_candidate(model, layers=benchmark_options.get("layers"), preprocessing=preprocessing,
                             stimulus_ids=stimulus_ids, **(model_options or {}))
    result = score_benchmark(test, candidate)
    result.attrs["model_identifier"] = candidate.identifier
    result.attrs["benchmark_identifier"] = getattr(test, "identifier", str(benchmark))
    if isinstance(getattr(candidate, "pretrained", None), bool):  # a registered model: which weights, which seed
        result.attrs["pretrained"] = candidate.pretrained
        result.attrs["seed"] = candidate.seed
    if getattr(candidate, "provenance", None):
        result.attrs["model_provenance"] = dict(candidate.provenance)
    return result


def _refuse_ignored_options(model, benchmark, model_options: dict, preprocessing, stimulus_ids,
                            benchmark_options: dict) -> None:
    """One-line ``ValueError`` for the first option :func:`score` would otherwise ignore (see its docstring)."""
    if benchmark_options and not isinstance(benchmark, str):
        name = getattr(benchmark, "identifier", type(benchmark).__name__)
        option = sorted(benchmark_options)[0]
        raise ValueError(f"score(): benchmark option {option}={benchmark_options[option]!r} does not apply to the "
                         f"already-built benchmark {name!r}; pass it when building it: load_benchmark({name!r}, "
                         f"{option}=...), or pass the benchmark id")
    if is_family(model):
        for option, value in (("preprocessing", preprocessing), ("stimulus_ids", stimulus_ids)):
            if value is not None:
                raise ValueError(f"score(): {option}= does not apply to the model family {model!r} (registered "
                                 "models bring their own)")
        return
    if isinstance(model, str):
        return
    import torch

    from benchmarks.candidates import is_commitment, is_rsatoolbox_rdms

    wrapped = isinstance(model, (torch.nn.Module, Mapping)) or is_commitment(model) or is_rsatoolbox_rdms(model)
    if not wrapped and model_options:
        name = getattr(model, "identifier", type(model).__name__)
        option = sorted(model_options)[0]
        raise ValueError(f"score(): model option {option}={model_options[option]!r} does not apply to the "
                         f"already-built model {name!r}; pass it when building it: load_model({name!r}, "
                         f"{option}=...), or pass the model id")


def _score_family(model, test, benchmark, model_options: dict) -> Score:
    import dataclasses

    if not callable(getattr(test, "score_family", None)):
        raise ValueError(f"benchmark {getattr(test, 'identifier', benchmark)!r} scores one model at a time; a model "
                         f"family ({model!r}) needs a things-eeg-rsa benchmark")
    inputs = test.validate()  # data checked before any model is built
    members = [dataclasses.replace(member, load=lambda i=member.identifier: model_registry.load_model(
        i, **model_options)) for member in family_members(model, inputs.subjects)]
    result = test.score_family(members)
    name = model if isinstance(model, str) else ",".join(model)
    result.attrs["model_identifier"] = name
    result.attrs["benchmark_identifier"] = getattr(test, "identifier", str(benchmark))
    result.attrs["pretrained"] = bool(model_options.get("pretrained", True))  # every member built alike
    result.attrs["seed"] = model_options.get("seed")
    return result


def improvement(a, b, benchmark=None, *, layers=None, n_permutations: int = 1000, n_bootstrap: int = 1000,
                seed: int = 0, confidence: float = 0.95, cluster_window=None, min_cluster_length: int | None = None,
                model_options: dict | None = None, **benchmark_options):
    """The paper's comparison of model A with model B: per layer and time point the similarity improvement
    r(A) - r(B) and the improvement ratio (r(A) - r(B)) / r(B), the two-sided paired cluster permutation test
    over the shared subjects and bootstrap confidence intervals (subjects resampled) ->
    :class:`~benchmarks.things_eeg_rsa.benchmark.GroupImprovement` (``to_dict()`` for JSON).

    ``a``, ``b``: ``things-eeg-rsa`` Scores, or model ids / families scored here on ``benchmark`` (an id, with
    ``benchmark_options``). When A is a family and B is not, B is compared with the family's subjects
    (``score_subjects``), and the reverse. ``cluster_window`` (``[start, end]`` s or ``'all'``) and
    ``min_cluster_length`` default to A's score's settings. Raises ``ValueError`` for ids without a benchmark,
    and as :func:`~benchmarks.things_eeg_rsa.benchmark.group_improvement` (e.g. fewer than 2 shared subjects).
    """
    from benchmarks.things_eeg_rsa.benchmark import group_improvement

    def scored(model, subjects=None):
        if not isinstance(model, (str, list, tuple)):
            return model
        if benchmark is None:
            raise ValueError(f"model {model!r} is an id; pass benchmark= (e.g. 'things-eeg-rsa') to score it")
        options = dict(benchmark_options)
        if subjects is not None and not is_family(model):
            options.setdefault("score_subjects", list(subjects))
        return score(model, benchmark, model_options=model_options, **options)

    if is_family(a) or not isinstance(a, (str, list, tuple)):
        result_a = scored(a)
        result_b = scored(b, result_a.attrs.get("subjects") if result_a.attrs.get("family") else None)
    else:
        result_b = scored(b)
        result_a = scored(a, result_b.attrs.get("subjects") if result_b.attrs.get("family") else None)
    return group_improvement(result_a, result_b, layers=layers, n_permutations=n_permutations, seed=seed,
                             n_bootstrap=n_bootstrap, confidence=confidence, cluster_window=cluster_window,
                             min_cluster_length=min_cluster_length)


__all__ = ["benchmarks", "forget_shared_benchmarks", "improvement", "keep_shared_benchmarks", "list_benchmarks",
           "list_models", "load_benchmark", "load_model", "score", "shared_benchmark", "validate_benchmark"]
