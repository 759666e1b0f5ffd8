"""The Brain-Score ``BrainModel`` adapter around a registered network and the activations extractor.

Neural recording. Regions are committed to layers by the spec's ``region_layer_map``. ``start_recording`` accepts
every time-bin form Brain-Score passes: a list of ``(start, end)`` tuples, a 0-d object array holding one tuple (a
squeezed ``time_bin`` coordinate, as MajajHong2015 gives), a 1-d object array of tuples, a ``(2,)`` or ``(n, 2)``
numeric array, or ``None`` (one bin, ``(70, 170)``). When a region's layer is a recurrent block whose
``<layer>.output`` module runs T times, bins map onto steps by the rank of their ``(start, end)`` among the
distinct bins requested: one distinct bin reads the final step (the block's output); n > 1 distinct bins read steps
``round(rank * (T - 1) / (n - 1))``, so the earliest bin sees step 0 and the latest the final step, whatever order
the bins come in. Responses keep the caller's bin order; their ``layer`` coordinate is 2-d ``(neuroid, time_bin)``
and names, per bin, the layer (step) it was read from; once a single bin is squeezed away it is a plain neuroid
coordinate, as Brain-Score's own models have it.

Rows follow Brain-Score's semantics: ``look_at`` gives one response per stimulus row. Rows repeating a stimulus
(repeated trials: a, b, a, b, a) are extracted once and expanded in the original row order; every StimulusSet
column becomes a presentation coordinate per row. The model is deterministic, so ``number_of_trials`` repeats give
identical responses and are not re-run.

Behaviour (Brain-Score's ``BrainModel.Task``), read out as ``brainscore_vision.model_helpers.brain_transformation
.behavior`` does:

- ``start_task('label', 'imagenet')``: the argmax ImageNet synset of the logits layer;
  ``start_task('label', ['dog', 'cat', ...])``: the softmax of the logits averaged (or ``aggregation='max'``) over
  each choice's ImageNet classes (Brain-Score's ``LabelToImagenetIndices`` table), the best choice per stimulus.
  Output ``BehavioralAssembly (choice: 1, presentation)`` as Brain-Score's ``LabelBehavior`` returns it.
- ``start_task('probabilities', fitting_stimuli)``: a multinomial logistic regression (``C=1e-3``, newton-cg) on
  standardised features of the behavioural read-out layer (the layer whose output feeds the logits layer), fitted
  on the ``image_label`` column of ``fitting_stimuli``. Output ``(presentation, choice)`` probabilities, choices
  in order of first appearance in the fitting labels.
- ``start_task('odd_one_out')``: per triplet of consecutive rows (i, j, k) the similarities (dot product, or
  ``similarity_measure='cosine'``) of the read-out features s_ij, s_ik, s_jk; the odd one is the element left out
  of the most similar pair. Output ``(choice: 1, presentation)`` of odd stimulus ids, one presentation per triplet
  with ``stimulus_id`` ``'i|j|k'``.

Every request is computed for the layers it names (the cache key contains the layer list), so asking for V4 after
IT returns V4.

Visual degrees (Brain-Score's ``place_on_screen``): stimuli that carry the visual angle they were shown at (a
StimulusSet's ``degrees`` column, :class:`~model_registry.stimuli.Stimuli` ``degrees``) are placed on this model's
screen of ``visual_degrees()`` before extraction, in ``look_at`` (every task) and :meth:`RegisteredModel.activations`:
a smaller stimulus sits in the centre of a grey canvas, a larger one is centre-cropped, equal degrees leave the
images untouched (:func:`model_registry.stimuli.place_image`). A StimulusSet Brain-Score already placed carries the
model's degrees and passes unchanged. Stimuli without degrees are shown as they are.

:meth:`RegisteredModel.fingerprint` hashes what the model computes (weights, preprocessing, layers, region map,
layouts, visual degrees, extras, extraction code versions); result caches key by it, never by weights alone.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from brainscore_core.supported_data_standards.brainio.assemblies import BehavioralAssembly, NeuroidAssembly
from brainscore_vision.model_interface import BrainModel

from .extractor import ActivationsExtractor, layer_blocks
from .reduction import Reduction
from .registry import ModelSpec, get_spec
from .stimuli import SCREEN_VERSION, Stimuli, as_stimuli

FINGERPRINT_VERSION = 2  # bump when the fingerprint's facts change (2: the module structure, attributes and hooks)
DEFAULT_TIME_BIN = (70, 170)
TimeBin = tuple[float, float]
TASKS = (BrainModel.Task.passive, BrainModel.Task.label, BrainModel.Task.probabilities, BrainModel.Task.odd_one_out)


class RegisteredModel(BrainModel):
    """A registered model as a Brain-Score ``BrainModel``; the network is built on first use."""

    def __init__(self, spec: ModelSpec, *, network: torch.nn.Module | None = None, pretrained: bool = True,
                 device: str | torch.device | None = None, batch_size: int = 32, cache=True, progress: bool = True,
                 seed: int | None = None):
        self.spec = spec
        self._network = network
        self._pretrained = pretrained
        self._seed = seed  # torch seed the network is built under (None: the global RNG as it stands)
        self._options = {"device": device, "batch_size": batch_size, "cache": cache, "progress": progress}
        self._recording: tuple[str, list[TimeBin] | None] | None = None
        self._task: tuple[str, object] = (BrainModel.Task.passive, None)

    # --- identity -------------------------------------------------------------------------------------------
    @property
    def identifier(self) -> str:
        return self.spec.identifier

    def visual_degrees(self) -> float:
        return self.spec.visual_degrees

    @property
    def pretrained(self) -> bool:
        """Whether the network carries its published weights (``False``: a random initialisation)."""
        return bool(self._pretrained)

    @property
    def seed(self) -> int | None:
        """The torch seed the network is built under (``None``: the global RNG as it stood)."""
        return self._seed

    @property
    def network(self) -> torch.nn.Module:
        """The ``torch.nn.Module`` (built lazily, eval mode; under ``torch.manual_seed(seed)`` when a seed was
        given, the global RNG left as it was, so a random initialisation is the same on every run)."""
        if self._network is None and self._seed is not None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self._seed)
                self._network = self.spec.build(self._pretrained)
        elif self._network is None:
            self._network = self.spec.build(self._pretrained)
        return self._network

    @property
    def layers(self) -> tuple[str, ...]:
        return self.spec.layers

    @property
    def region_layer_map(self) -> dict[str, str]:
        return dict(self.spec.region_layer_map)

    def __repr__(self) -> str:
        return f"RegisteredModel({self.identifier!r}, family={self.spec.family!r}, layers={list(self.layers)})"

    def fingerprint(self) -> str:
        """sha256 (hex) of what this model computes: the weights
        (:func:`~model_registry.storage.fingerprint.weights_hash`), the module structure, plain attributes and hooks
        (:func:`~model_registry.storage.fingerprint.structure_digest`) and network class, the preprocessing descriptor,
        default layers, region->layer map, layer layouts, visual degrees, logits layer, the spec's typed metadata
        (recurrent steps, subject, beta, generation module, ...), and the versions of the extraction, extractor and
        screen-placement code. Two models with the same weights and any other difference here get different
        fingerprints. Builds the network if needed."""
        from .extractor import EXTRACTOR_VERSION
        from .storage.activation_cache import EXTRACTION_CODE_VERSION
        from .storage.fingerprint import structure_digest, weights_hash

        network = self.network
        spec = self.spec
        facts = {
            "fingerprint_version": FINGERPRINT_VERSION,
            "weights": weights_hash(network),
            "structure": structure_digest(network),
            "network": f"{type(network).__module__}.{type(network).__qualname__}",
            "preprocessing": spec.preprocessing.descriptor(),
            "layers": list(spec.layers),
            "region_layer_map": {str(k): str(v) for k, v in sorted(spec.region_layer_map.items())},
            "layer_layouts": {name: layout.descriptor() for name, layout in sorted(spec.layer_layouts.items())},
            "visual_degrees": float(self.visual_degrees()),
            "logits_layer": spec.logits_layer,
            "spec": {"recurrent_steps": dict(spec.recurrent_steps), "subject": spec.subject, "beta": spec.beta,
                     "backbone": spec.backbone, "generation_module": spec.generation_module,
                     "behavioral_readout_layer": spec.behavioral_readout_layer,
                     "brainscore_layers": list(spec.brainscore_layers)},
            "code": {"extraction": EXTRACTION_CODE_VERSION, "extractor": EXTRACTOR_VERSION, "screen": SCREEN_VERSION},
        }
        text = json.dumps(facts, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def on_screen(self, stimuli):
        """``stimuli`` placed on this model's screen (``visual_degrees()``) when they carry their own degrees (a
        StimulusSet's ``degrees`` column, :class:`Stimuli` ``degrees``), else unchanged (see the module docstring)."""
        carries = isinstance(stimuli, Stimuli) or (
            hasattr(stimuli, "get_stimulus") and "degrees" in getattr(stimuli, "columns", ()))
        if not carries:
            return stimuli
        return as_stimuli(stimuli).on_screen(float(self.visual_degrees()))

    # --- activations ----------------------------------------------------------------------------------------
    def extractor(self, **options) -> ActivationsExtractor:
        """An :class:`ActivationsExtractor` over this network with the model's options (``options`` override)."""
        merged = {**self._options, **{k: v for k, v in options.items() if v is not None}}
        merged = {"layer_layouts": self.spec.layer_layouts, **merged}  # the spec's per-layer output layouts
        return ActivationsExtractor(self.network, self.spec.preprocessing, identifier=self.identifier, **merged)

    def activations(self, stimuli, layers: Sequence[str] | None = None, *, reduction: Reduction | None = None,
                    **options) -> NeuroidAssembly:
        """Layer activations ``(presentation, neuroid)`` for ``stimuli``; default layers from the spec. Stimuli
        carrying their visual degrees are placed on this model's screen first (:meth:`on_screen`)."""
        return self.extractor(**options)(self.on_screen(stimuli), list(layers or self.layers), reduction)

    def _row_features(self, stimuli, layers: Sequence[str]) -> tuple[dict[str, np.ndarray], dict]:
        """``({layer: (n_rows, n_features)}, presentation coords)``: repeated stimuli extracted once, expanded."""
        rows = _rows(stimuli)
        assembly = self.activations(as_stimuli(rows.unique), list(dict.fromkeys(layers)))
        extracted_ids = [str(i) for i in assembly["stimulus_id"].values]
        if rows.keys is not None and extracted_ids != rows.keys:
            raise RuntimeError(f"model {self.identifier}: the extractor returned stimulus ids {extracted_ids[:5]} "
                               f"for the stimulus set's ids {rows.keys[:5]}")
        blocks = layer_blocks(assembly)
        features = {layer: np.asarray(blocks[layer])[rows.index] for layer in dict.fromkeys(layers)}
        ids = rows.ids if rows.ids is not None else np.asarray(assembly["stimulus_id"].values)[rows.index]
        coords = {**rows.columns,
                  "stimulus_id": ("presentation", np.asarray(ids)),
                  "stimulus_path": ("presentation", np.asarray(assembly["stimulus_path"].values)[rows.index])}
        return features, coords

    # --- BrainModel -----------------------------------------------------------------------------------------
    def start_task(self, task: str, fitting_stimuli=None, *, aggregation: str = "mean",
                   similarity_measure: str = "dot") -> None:
        """Start a Brain-Score task (see the module docstring for each task's read-out and output).

        ``fitting_stimuli``: the choice labels for ``'label'`` (``'imagenet'`` or a list of label names), the
        StimulusSet with an ``image_label`` column for ``'probabilities'``; unused otherwise. ``aggregation``
        (``'mean'``/``'max'``) pools ImageNet class probabilities within a choice label; ``similarity_measure``
        (``'dot'``/``'cosine'``) is the odd-one-out similarity. Raises ``ValueError`` for an unknown task or
        argument, before any image is processed.
        """
        if task == BrainModel.Task.passive:
            self._task = (task, None)
            return
        if task == BrainModel.Task.label:
            self._task = (task, self._label_task(fitting_stimuli, aggregation))
        elif task == BrainModel.Task.probabilities:
            self._task = (task, self._fit_probabilities(fitting_stimuli))
        elif task == BrainModel.Task.odd_one_out:
            if similarity_measure not in ("dot", "cosine"):
                raise ValueError(f"similarity_measure must be 'dot' or 'cosine', got {similarity_measure!r}")
            self._task = (task, similarity_measure)
        else:
            raise ValueError(f"model {self.identifier} supports the tasks {list(TASKS)}, got task={task!r}")
        self._recording = None

    def start_recording(self, recording_target: str, time_bins=None) -> None:
        """Record ``recording_target`` (V1, V2, V4, IT) in ``time_bins`` (any form Brain-Score passes, see the
        module docstring). Raises ``ValueError`` for an uncommitted region or malformed time bins."""
        if recording_target not in self.spec.region_layer_map:
            raise ValueError(f"model {self.identifier} has no layer committed to region {recording_target!r}; "
                             f"committed regions: {sorted(self.spec.region_layer_map)}")
        self._recording = (recording_target, normalize_time_bins(time_bins))

    def look_at(self, stimuli, number_of_trials: int = 1, require_variance: bool = False):
        """Recorded region responses ``NeuroidAssembly (presentation, neuroid, time_bin)``, one presentation per
        stimulus row, or the running task's behaviour (see the module docstring).

        Responses are deterministic: ``require_variance=True`` (trial-to-trial variability, which Brain-Score's own
        model wrappers produce with microsaccade shifts, e.g. for Malania2007's thresholds) raises
        ``NotImplementedError`` before any image is processed, rather than returning identical trials."""
        if int(number_of_trials) < 1:
            raise ValueError(f"number_of_trials must be >= 1, got {number_of_trials}")
        if require_variance:
            raise NotImplementedError(
                f"model {self.identifier}: look_at(require_variance=True) asks for responses that vary across trials "
                "(Brain-Score adds microsaccade shifts); this adapter's responses are deterministic, so identical "
                "trials would be returned: score this benchmark through a Brain-Score ModelCommitment instead")
        if self._recording is None:
            task, state = self._task
            if task == BrainModel.Task.label:
                return self._labels(stimuli, *state)
            if task == BrainModel.Task.probabilities:
                return self._probabilities(stimuli, state)
            if task == BrainModel.Task.odd_one_out:
                return self._odd_one_out(stimuli, state)
            raise RuntimeError("call start_recording(region, time_bins) or start_task(task, ...) before look_at")
        region, bins = self._recording
        bins = bins or [DEFAULT_TIME_BIN]
        layers = self._bin_layers(region, bins)
        features, coords = self._row_features(stimuli, layers)
        values = np.stack([features[layer] for layer in layers], axis=-1)  # (presentation, neuroid, time_bin)
        n_neuroids = values.shape[1]
        return NeuroidAssembly(
            values,
            coords={**coords,
                    "neuroid_id": ("neuroid", [f"{region}.{i}" for i in range(n_neuroids)]),
                    "neuroid_num": ("neuroid", np.arange(n_neuroids)),
                    "region": ("neuroid", [region] * n_neuroids),
                    "layer": (("neuroid", "time_bin"), np.tile(np.asarray(layers, dtype=object), (n_neuroids, 1))),
                    "time_bin_start": ("time_bin", [b[0] for b in bins]),
                    "time_bin_end": ("time_bin", [b[1] for b in bins])},
            dims=["presentation", "neuroid", "time_bin"],
        )

    def recording_layers(self, region: str, n_bins: int) -> list[str]:
        """The layer read for each of ``n_bins`` successive distinct time bins of ``region``."""
        return self._bin_layers(region, [(i, i + 1) for i in range(max(1, n_bins))])

    def _bin_layers(self, region: str, bins: Sequence[TimeBin]) -> list[str]:
        """The layer read for each bin: recurrent steps spread over the distinct bins by their rank in time."""
        layer = self.spec.region_layer_map[region]
        steps = self.spec.recurrent_steps.get(f"{layer}.output", 1)
        distinct = sorted(set(bins))
        if len(distinct) <= 1 or steps <= 1:
            return [layer] * len(bins)
        rank = {b: i for i, b in enumerate(distinct)}
        return [f"{layer}.output-t{round(rank[b] * (steps - 1) / (len(distinct) - 1))}" for b in bins]

    # --- behaviour ------------------------------------------------------------------------------------------
    @property
    def behavioral_readout_layer(self) -> str:
        """The layer the probabilities and odd-one-out read-outs use: ``spec.behavioral_readout_layer``
        when set, else the module registered right before the logits layer (its input: CORnet-S
        ``decoder.flatten``, ResNet ``avgpool``), else the spec's last layer (Brain-Score's default)."""
        explicit = self.spec.behavioral_readout_layer
        if explicit:
            return explicit
        logits = self.spec.logits_layer
        if logits:
            names = [name for name, _ in self.network.named_modules() if name]
            if logits in names:
                for name in reversed(names[:names.index(logits)]):
                    if not logits.startswith(name + "."):  # skip the containers holding the logits layer
                        return name
        return self.spec.layers[-1]

    def _readout(self, stimuli) -> tuple[np.ndarray, dict]:
        layer = self.behavioral_readout_layer
        features, coords = self._row_features(stimuli, [layer])
        values = features[layer].astype(np.float64)
        logits = dict(self.network.named_modules()).get(self.spec.logits_layer or "")
        if isinstance(logits, torch.nn.Linear) and values.shape[1] != logits.in_features:
            raise ValueError(f"model {self.identifier}: behavioural read-out layer {layer!r} gives {values.shape[1]} "
                             f"features but logits layer {self.spec.logits_layer!r} takes {logits.in_features}; "
                             "set spec.behavioral_readout_layer to the layer feeding the logits")
        return values, coords

    def _label_task(self, choice_labels, aggregation: str) -> tuple[object, str]:
        if not self.spec.logits_layer:
            raise ValueError(f"model {self.identifier} has no ImageNet logits layer for the label task")
        if aggregation not in ("mean", "max"):
            raise ValueError(f"aggregation must be 'mean' or 'max', got {aggregation!r}")
        if choice_labels is None or (isinstance(choice_labels, str) and choice_labels == "imagenet"):
            return "imagenet", aggregation
        if isinstance(choice_labels, str) or not len(choice_labels):
            raise ValueError(f"choice labels must be 'imagenet' or a non-empty list of label names, "
                             f"got {choice_labels!r}")
        choices = [str(label) for label in choice_labels]
        for label in choices:
            _imagenet_indices(label)  # fail now, not after extraction
        return choices, aggregation

    def _logits(self, stimuli) -> tuple[np.ndarray, dict]:
        layer = self.spec.logits_layer
        features, coords = self._row_features(stimuli, [layer])
        logits = features[layer].astype(np.float64)
        if logits.shape[1] != 1000:
            raise ValueError(f"model {self.identifier}: logits layer {layer!r} gives {logits.shape[1]} values; "
                             "the label task needs the 1000 ImageNet classes")
        return logits, coords

    def _labels(self, stimuli, choices, aggregation: str) -> BehavioralAssembly:
        logits, coords = self._logits(stimuli)
        extra = {}
        if choices == "imagenet":
            indices = logits.argmax(axis=1)
            labels = [_imagenet_synsets()[i] for i in indices]
            extra = {"synset": ("presentation", labels), "logit": ("presentation", indices)}
        else:
            shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
            probabilities = shifted / shifted.sum(axis=1, keepdims=True)  # softmax over the 1000 classes
            pool = np.mean if aggregation == "mean" else np.max
            pooled = np.stack([pool(probabilities[:, _imagenet_indices(label)], axis=1) for label in choices], axis=1)
            labels = [choices[i] for i in pooled.argmax(axis=1)]
        return BehavioralAssembly([labels], coords={**coords, "label": ("presentation", labels), **extra},
                                  dims=["choice", "presentation"])

    def _fit_probabilities(self, fitting_stimuli) -> _ProbabilitiesReadout:
        if fitting_stimuli is None or "image_label" not in getattr(fitting_stimuli, "columns", ()):
            raise ValueError("start_task('probabilities', fitting_stimuli) needs a StimulusSet with an "
                             "'image_label' column")
        labels = [str(label) for label in fitting_stimuli["image_label"].values]
        choices = list(dict.fromkeys(labels))
        if len(choices) < 2:
            raise ValueError(f"the fitting stimuli hold {len(choices)} distinct image_label value(s); need >= 2")
        features, _ = self._readout(fitting_stimuli)
        return _ProbabilitiesReadout.fit(features, labels, choices)

    def _probabilities(self, stimuli, readout: _ProbabilitiesReadout) -> BehavioralAssembly:
        features, coords = self._readout(stimuli)
        return BehavioralAssembly(readout.predict(features), coords={**coords, "choice": readout.choices},
                                  dims=["presentation", "choice"])

    def _odd_one_out(self, triplets, similarity_measure: str) -> BehavioralAssembly:
        features, coords = self._readout(triplets)
        ids = [str(i) for i in coords["stimulus_id"][1]]
        if len(ids) % 3:
            raise ValueError(f"odd_one_out needs triplets: {len(ids)} stimulus rows is not a multiple of 3")
        if similarity_measure == "cosine":
            norms = np.linalg.norm(features, axis=1, keepdims=True)
            features = features / np.where(norms > 0, norms, 1)
        trios = features.reshape(-1, 3, features.shape[1])  # (n_triplets, 3, n_features)
        pairs = np.stack([np.einsum("nf,nf->n", trios[:, a], trios[:, b]) for a, b in ((0, 1), (0, 2), (1, 2))], 1)
        odd = 2 - pairs.argmax(axis=1)  # the element outside the most similar pair
        rows = np.asarray(ids).reshape(-1, 3)
        choices = [rows[t, odd[t]] for t in range(len(rows))]
        return BehavioralAssembly([choices], coords={"stimulus_id": ("presentation", ["|".join(r) for r in rows])},
                                  dims=["choice", "presentation"])


@dataclass(frozen=True)
class _ProbabilitiesReadout:
    """Standardise, then a multinomial logistic regression (Brain-Score's behavioural read-out settings)."""

    choices: list[str]
    scaler: object
    classifier: object

    @classmethod
    def fit(cls, features: np.ndarray, labels: Sequence[str], choices: list[str]) -> _ProbabilitiesReadout:
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        scaler = StandardScaler().fit(features)
        target = np.array([choices.index(label) for label in labels])
        classifier = LogisticRegression(multi_class="multinomial", solver="newton-cg", C=1e-3)
        with warnings.catch_warnings():  # multinomial also for two choices, as Brain-Score fits it
            warnings.filterwarnings("ignore", message="'multi_class' was deprecated", category=FutureWarning)
            classifier.fit(scaler.transform(features), target)
        return cls(choices, scaler, classifier)

    def predict(self, features: np.ndarray) -> np.ndarray:
        """``(n, n_choices)`` probabilities, columns in ``choices`` order."""
        proba = self.classifier.predict_proba(self.scaler.transform(features))
        columns = list(self.classifier.classes_)
        return proba[:, [columns.index(i) for i in range(len(self.choices))]]


def normalize_time_bins(time_bins) -> list[TimeBin] | None:
    """Brain-Score time bins in any form -> ``[(start, end), ...]`` (ms), or ``None`` for none given.

    Accepts a list/tuple of pairs, one bare pair ``(70, 170)``, a 0-d object array holding a pair (a squeezed
    ``time_bin`` coordinate), a 1-d object array of pairs, a numeric ``(2,)`` or ``(n, 2)`` array. Raises
    ``ValueError`` naming the offending bin for anything else (not two finite numbers, start > end, no bins).
    """
    if time_bins is None:
        return None
    if isinstance(time_bins, np.ndarray):
        if time_bins.ndim == 0:
            items = [time_bins.item()]
        elif time_bins.ndim == 1:
            items = list(time_bins)
        elif time_bins.ndim == 2 and time_bins.shape[1] == 2:
            items = [tuple(row) for row in time_bins.tolist()]
        else:
            raise ValueError(f"time_bins must be (start, end) pairs; got an array of shape {time_bins.shape}")
    elif isinstance(time_bins, (str, bytes)) or not hasattr(time_bins, "__iter__"):
        raise ValueError(f"time_bins must be (start, end) pairs, got {time_bins!r}")
    else:
        items = list(time_bins)
    if len(items) == 2 and all(_is_number(v) for v in items):  # one bare pair (70, 170)
        items = [tuple(items)]
    if not items:
        raise ValueError("time_bins is empty; pass at least one (start, end) pair or None")
    return [_time_bin(item) for item in items]


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _time_bin(item) -> TimeBin:
    values = np.asarray(item.item() if isinstance(item, np.ndarray) and item.ndim == 0 else item, dtype=object)
    values = values.reshape(-1) if values.ndim else np.asarray([values.item()], dtype=object)
    if len(values) != 2 or not all(_is_number(v) for v in values) or not np.isfinite(values.astype(float)).all():
        raise ValueError(f"time bin {item!r} is not a (start, end) pair of finite numbers (ms)")
    start, end = (int(v) if float(v).is_integer() else float(v) for v in values)
    if start > end:
        raise ValueError(f"time bin {item!r} starts after it ends")
    return start, end


@dataclass(frozen=True)
class _Rows:
    """Stimulus rows: ``unique`` goes to the extractor, ``index[r]`` is row r's position in it."""

    unique: object
    index: np.ndarray
    columns: dict
    ids: np.ndarray | None  # per-row stimulus ids of a StimulusSet (original values); None: the extractor's
    keys: list[str] | None  # the StimulusSet's unique ids as strings, to check the extractor's answer


def _rows(stimuli) -> _Rows:
    if isinstance(stimuli, Stimuli) or isinstance(stimuli, Mapping) or (
            isinstance(stimuli, np.ndarray) and stimuli.ndim == 4):
        return _Rows(stimuli, np.arange(len(stimuli)), {}, None, None)
    if hasattr(stimuli, "get_stimulus") and "stimulus_id" in getattr(stimuli, "columns", ()):
        row_ids = np.asarray(stimuli["stimulus_id"].values)
        keys = [str(i) for i in row_ids]
        unique = list(dict.fromkeys(keys))
        position = {key: i for i, key in enumerate(unique)}
        deduplicated = stimuli if len(unique) == len(keys) else stimuli.drop_duplicates(subset=["stimulus_id"])
        return _Rows(deduplicated, np.array([position[k] for k in keys]), _stimulus_columns(stimuli), row_ids, unique)
    if isinstance(stimuli, (str, os.PathLike)):
        return _Rows(stimuli, np.arange(1), {}, None, None)  # as_stimuli names the error
    items = list(stimuli)
    keys = [os.path.realpath(os.fspath(item)) if isinstance(item, (str, os.PathLike)) else ("object", i)
            for i, item in enumerate(items)]
    first = {}
    for i, key in enumerate(keys):
        first.setdefault(key, i)
    if len(first) == len(items):
        return _Rows(items, np.arange(len(items)), {}, None, None)
    unique_rows = list(first.values())
    position = {key: n for n, key in enumerate(first)}
    return _Rows([items[i] for i in unique_rows], np.array([position[k] for k in keys]), {}, None, None)


def _stimulus_columns(stimuli) -> dict:
    """A StimulusSet's metadata columns as presentation coordinates (Brain-Score copies them onto responses)."""
    columns = getattr(stimuli, "columns", ())
    return {str(c): ("presentation", np.asarray(stimuli[c].values)) for c in columns
            if c not in ("stimulus_id", "stimulus_path") and not str(c).startswith("_")}


def _imagenet_indices(label: str) -> list[int]:
    """ImageNet class indices of a choice label (Brain-Score's ``LabelToImagenetIndices`` table)."""
    from brainscore_vision.model_helpers.brain_transformation.behavior import LabelToImagenetIndices

    try:
        return list(LabelToImagenetIndices.label_to_indices(label))
    except AttributeError:
        known = sorted(name[:-len("_indices")] for name in vars(LabelToImagenetIndices) if name.endswith("_indices"))
        raise ValueError(f"choice label {label!r} has no ImageNet classes in Brain-Score's table; known labels: "
                         f"{', '.join(known)}") from None


@functools.cache
def _imagenet_synsets() -> list[str]:
    """The 1000 ImageNet synset ids in class-index order (``n01440764`` ...)."""
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    return [info.index_to_label_name(i) for i in range(1000)]


def load_model(identifier: str, *, pretrained: bool = True, **options) -> RegisteredModel:
    """The registered model ``identifier`` as a :class:`RegisteredModel` (a Brain-Score ``BrainModel``)."""
    return RegisteredModel(get_spec(identifier), pretrained=pretrained, **options)
