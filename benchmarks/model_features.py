"""Layer features of any BrainModel for RSA benchmarks.

Registered models (``activations(stimuli, layers)``) give any layer, recurrent steps included, through the
extractor and its cache. Any other Brain-Score ``BrainModel`` is recorded region by region (``start_recording`` +
``look_at`` on a ``StimulusSet``), and its regions (V1, V2, V4, IT) play the role of layers.

Stimulus ids travel with the numbers: :class:`LayerFeatures` and :class:`ModelRDMs` carry the ids of their rows
(read back from the model's own output, asserted equal to the requested order), and the benchmarks hand them to
the comparison (:func:`benchmarks.rsa.compare.check_stimulus_order`). The layer layout is read from the
assembly's ``neuroid`` coordinates (a structure), not from JSON in its attrs.

Visual degrees: stimuli that carry the visual angle they were shown at (:class:`~model_registry.stimuli.Stimuli`
``degrees``, set by a benchmark's ``place_on_screen=True``) are placed on the model's screen of
``visual_degrees()`` as Brain-Score does: models with ``activations`` get the stimuli placed by
:meth:`~model_registry.stimuli.Stimuli.on_screen` (:func:`model_registry.stimuli.place_image`), models recorded
through ``look_at`` get the ``StimulusSet`` placed by Brain-Score's own
``brainscore_vision.benchmark_helpers.screen.place_on_screen`` (:func:`placed_stimulus_set`). Stimuli without
degrees are shown whole (the model's preprocessing resizes them).
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from model_registry.extractor import layer_blocks, parse_layer
from model_registry.registry import BRAIN_REGIONS
from model_registry.stimuli import Stimuli

from .rdm_model import RdmModel
from .rsa import model_rdm
from .rsa.compare import check_stimulus_order


@dataclass(frozen=True)
class LayerFeatures(Mapping):
    """``{layer: (n_stimuli, n_features) array}`` (a read-only mapping, layer order kept) whose rows are the
    stimuli ``stimulus_ids``, in that order."""

    stimulus_ids: tuple[str, ...]
    blocks: Mapping[str, np.ndarray]

    def __getitem__(self, layer: str) -> np.ndarray:
        if layer not in self.blocks:
            raise KeyError(f"no features of layer {layer!r}; these features hold {list(self.blocks)} (a module "
                           "called several times per image gives '<module>-t0', '<module>-t1', ...: see expand())")
        return self.blocks[layer]

    def expand(self, layers: Sequence[str]) -> list[str]:
        """The feature names of ``layers`` in order: a layer itself, or, for a module called several times per image
        and asked for without a step, each of its steps (``'c2'`` -> ``'c2-t0', 'c2-t1'``). ``KeyError`` naming a
        layer with no features."""
        names: list[str] = []
        for layer in layers:
            steps = [name for name in self.blocks if name != layer and parse_layer(name)[0] == layer
                     and parse_layer(name)[1] is not None]
            if layer in self.blocks:
                names.append(layer)
            elif steps:
                names.extend(steps)
            else:
                self[layer]  # raises, naming what there is
        return names

    def __iter__(self) -> Iterator[str]:
        return iter(self.blocks)

    def __len__(self) -> int:
        return len(self.blocks)


@dataclass(frozen=True)
class ModelRDMs:
    """A model's condensed RDMs ``rdms`` ``(n_layers, n_pairs)`` for ``layers``, over the stimuli ``stimulus_ids``
    in that order (scipy ``squareform`` pair order); ``model``: the model's id for messages."""

    rdms: np.ndarray
    layers: tuple[str, ...]
    stimulus_ids: tuple[str, ...]
    model: str = ""

    def __post_init__(self):
        n = len(self.stimulus_ids)
        if np.shape(self.rdms) != (len(self.layers), n * (n - 1) // 2):
            raise ValueError(f"model {self.model or '(unnamed)'}: RDMs of shape {np.shape(self.rdms)} for "
                             f"{len(self.layers)} layers over {n} stimuli; expected ({len(self.layers)}, "
                             f"{n * (n - 1) // 2})")


def assembly_layers(assembly) -> dict[str, np.ndarray]:
    """``{layer: (n_stimuli, n_features) view}`` of an extractor assembly, read from its ``neuroid`` coordinate
    ``layer`` (:func:`model_registry.extractor.layer_blocks`; ``ValueError`` for layers that are not contiguous)."""
    return layer_blocks(assembly)


def default_layers(candidate) -> list[str]:
    """The candidate's default layers (registered models, RDM models), else the four ventral-stream regions: a
    Brain-Score model without ``activations`` is recorded by region, whatever its own ``layers`` attribute holds
    (a ``ModelCommitment``'s are module names, not regions)."""
    if hasattr(candidate, "activations") or isinstance(candidate, RdmModel):
        return list(getattr(candidate, "layers", None) or BRAIN_REGIONS)
    return list(BRAIN_REGIONS)


def model_visual_degrees(candidate) -> float:
    """``candidate.visual_degrees()`` as a positive float; ``ValueError`` naming the model when it has none (a
    benchmark with ``place_on_screen=True`` cannot place stimuli on its screen)."""
    name = getattr(candidate, "identifier", "") or type(candidate).__name__
    method = getattr(candidate, "visual_degrees", None)
    if not callable(method):
        raise ValueError(f"model {name} has no visual_degrees(); place_on_screen=True needs the model's field of "
                         "view (a Brain-Score BrainModel's visual_degrees()), or pass place_on_screen=false")
    degrees = float(method())
    if not (np.isfinite(degrees) and degrees > 0):
        raise ValueError(f"model {name}: visual_degrees() is {degrees!r}; expected a positive number of degrees")
    return degrees


def placed_stimulus_set(stimulus_set, degrees: Sequence[float], screen_degrees: float):
    """``stimulus_set`` (shown at ``degrees``, one value per row) placed on a screen of ``screen_degrees`` by
    Brain-Score's ``place_on_screen`` (unchanged when they are equal). Raises ``ValueError`` for rows shown at
    different degrees (Brain-Score's helper then needs a ``degrees`` column the set does not carry)."""
    from brainscore_vision.benchmark_helpers.screen import place_on_screen

    values = sorted(set(float(d) for d in degrees))
    if len(values) != 1:
        raise ValueError(f"stimuli shown at several visual angles ({values[:3]} ...) cannot be placed on a "
                         "look_at-only model's screen; expected one visual angle for the set")
    if "degrees" in stimulus_set.columns:
        return place_on_screen(stimulus_set, target_visual_degrees=screen_degrees)
    return place_on_screen(stimulus_set, target_visual_degrees=screen_degrees, source_visual_degrees=values[0])


def layer_features(candidate, stimuli, stimulus_set, layers: Sequence[str] | None = None) -> LayerFeatures:
    """:class:`LayerFeatures`: ``{layer: (n_stimuli, n_features) float array}`` with the stimulus ids of its rows.

    ``stimuli``: a :class:`~model_registry.stimuli.Stimuli` (its ``ids`` are the order asked for; with
    ``degrees`` they are placed on the model's screen first, see the module docstring);
    ``stimulus_set``: a zero-argument callable returning the Brain-Score ``StimulusSet`` of the same images, used
    only for models without an ``activations`` method. The ids are read back from the model's output
    (``stimulus_id`` coordinate) and must equal the order asked for (``ValueError`` naming the first difference).
    """
    layers = list(layers or default_layers(candidate))
    name = f"model {getattr(candidate, 'identifier', '') or '(unnamed)'} activations"
    degrees = getattr(stimuli, "degrees", None)
    if hasattr(candidate, "activations"):
        if degrees is not None:  # idempotent for a RegisteredModel, which places stimuli itself
            stimuli = stimuli.on_screen(model_visual_degrees(candidate))
        assembly = candidate.activations(stimuli, layers)
        returned = tuple(str(i) for i in assembly["stimulus_id"].values)
        check_stimulus_order(returned, getattr(stimuli, "ids", None), name, "the stimuli asked for")
        return LayerFeatures(returned, assembly_layers(assembly))  # a recurrent layer may give one block per step
    shown = stimulus_set()
    stimulus_ids = list(shown["stimulus_id"])
    check_stimulus_order(stimulus_ids, getattr(stimuli, "ids", None), "the StimulusSet", "the stimuli asked for")
    if degrees is not None:
        by_id = dict(zip(stimuli.ids, degrees))
        shown = placed_stimulus_set(shown, [by_id[str(i)] for i in stimulus_ids], model_visual_degrees(candidate))
    features = {}
    for region in layers:
        candidate.start_recording(region, [(70, 170)])
        responses = candidate.look_at(shown)
        if "time_bin" in responses.dims:
            responses = responses.squeeze("time_bin", drop=True)
        order = {sid: i for i, sid in enumerate(responses["stimulus_id"].values)}
        missing = [sid for sid in stimulus_ids if sid not in order]
        if missing:
            raise ValueError(f"model {candidate.identifier} returned no responses for stimuli {missing[:5]}")
        values = np.asarray(responses.transpose("presentation", "neuroid").values)
        features[region] = values[[order[sid] for sid in stimulus_ids]]  # reordered by id to the asked order
    return LayerFeatures(tuple(str(i) for i in stimulus_ids), features)


def check_headers(stimuli: Stimuli, benchmark: str) -> None:
    """Read every stimulus file's header (:meth:`model_registry.stimuli.Stimuli.check`: readable, a format Pillow
    decodes, not a decompression bomb; no pixels decoded, about a millisecond per file) so that an undecodable
    image fails in the benchmark's ``validate()``, before any model is built. Raises ``ValueError``: one line,
    ``<benchmark>: cannot read stimulus '<id>' from <file>: <reason>``."""
    try:
        stimuli.check()
    except ValueError as error:
        raise type(error)(f"{benchmark}: {error}") from None


def shown_at(stimuli: Stimuli, degrees: float | None, place_on_screen: bool, benchmark: str) -> Stimuli:
    """``stimuli`` as a benchmark shows them: with ``place_on_screen`` carrying the dataset's visual angle
    ``degrees`` (so each model sees them placed on its own screen), else as they are (the whole image, resized by
    the model's preprocessing). Raises ``ValueError`` naming ``benchmark`` when placing is asked for a dataset
    that declares no degrees."""
    if not place_on_screen:
        return stimuli
    if degrees is None:
        raise ValueError(f"{benchmark}: place_on_screen=True needs the visual angle the images were shown at, which "
                         "this dataset does not declare (STIMULUS_DEGREES); pass place_on_screen=false")
    return Stimuli(stimuli.ids, stimuli.sources, degrees)


def layer_rdms(features: dict[str, np.ndarray], layers: Sequence[str], model_identifier: str = "") -> np.ndarray:
    """1 - Pearson RDMs ``(n_layers, n_pairs)`` of ``features[layer]`` ``(n_images, n_features)`` for ``layers``.

    Raises ``ValueError`` naming the model and the layer for non-finite features (NaN or inf, e.g. NaN weights or
    a float16 overflow), with the count and the first image, and for any other feature the RDM cannot use.
    """
    name = model_identifier or "(unnamed)"
    rdms = []
    for layer in layers:
        values = np.asarray(features[layer])
        try:  # model_rdm refuses non-finite features itself: the features are read once when they are finite
            rdms.append(model_rdm(values.reshape(len(values), -1)))
        except (ValueError, TypeError) as error:
            if values.dtype.kind in "fc" and not np.isfinite(values).all():
                bad = ~np.isfinite(values).reshape(len(values), -1)
                images = np.flatnonzero(bad.any(axis=1))
                n_nan = int(np.isnan(values).sum())
                raise ValueError(
                    f"model {name} layer {layer!r}: {int(bad.sum())} of {values.size} features are not finite "
                    f"({n_nan} NaN, {int(bad.sum()) - n_nan} inf), in {len(images)} of {len(values)} images (first: "
                    f"image {int(images[0])}); expected finite activations (NaN weights? an overflow?)") from None
            raise type(error)(f"model {name} layer {layer!r}: {error}") from None
    return np.stack(rdms)


def candidate_rdms(candidate, stimuli, stimulus_set, layers: Sequence[str], benchmark: str = "the benchmark"
                   ) -> ModelRDMs:
    """:class:`ModelRDMs`: the model's RDMs ``(n_layers, n_pairs)`` for ``layers`` with the stimulus ids of their
    rows (``stimuli.ids``' order, read back from the model's output).

    An :class:`~benchmarks.rdm_model.RdmModel` gives its own RDMs, checked against and reordered by the stimulus
    ids (missing / extra ids refused, naming them); any other candidate is run (:func:`layer_features`) and its RDMs
    are 1 - Pearson (:func:`layer_rdms`). Stimuli carrying ``degrees`` (``place_on_screen=True``) cannot reach
    precomputed RDMs: a ``ValueError`` says so rather than scoring RDMs of unplaced images as placed ones.
    """
    identifier = str(getattr(candidate, "identifier", ""))
    if isinstance(candidate, RdmModel):
        if getattr(stimuli, "degrees", None) is not None:
            raise ValueError(f"{benchmark}: place_on_screen=True cannot apply to the precomputed RDMs of "
                             f"{identifier or 'the RDM model'} (no image is shown to a model); score them with "
                             "place_on_screen=false")
        return ModelRDMs(candidate.rdms_for(list(stimuli.ids), layers, benchmark), tuple(layers),
                         tuple(str(i) for i in stimuli.ids), identifier)
    features = layer_features(candidate, stimuli, stimulus_set, layers)
    names = features.expand(layers)  # a module run several times: one RDM per step
    return ModelRDMs(layer_rdms(features, names, identifier), tuple(names), features.stimulus_ids, identifier)
