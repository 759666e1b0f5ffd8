"""Layer features of any BrainModel for RSA benchmarks.

Registered models (``activations(stimuli, layers)``) give any layer, recurrent steps included, through the
extractor and its cache. Any other Brain-Score ``BrainModel`` is recorded region by region (``start_recording`` +
``look_at`` on a ``StimulusSet``), and its regions (V1, V2, V4, IT) play the role of layers.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from model_registry.extractor import layer_blocks
from model_registry.registry import BRAIN_REGIONS

from .rdm_model import RdmModel
from .rsa import model_rdm


def default_layers(candidate) -> list[str]:
    """The candidate's default layers (registered models, RDM models), else the four ventral-stream regions: a
    Brain-Score model without ``activations`` is recorded by region, whatever its own ``layers`` attribute holds
    (a ``ModelCommitment``'s are module names, not regions)."""
    if hasattr(candidate, "activations") or isinstance(candidate, RdmModel):
        return list(getattr(candidate, "layers", None) or BRAIN_REGIONS)
    return list(BRAIN_REGIONS)


def layer_features(candidate, stimuli, stimulus_set, layers: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """``{layer: (n_stimuli, n_features) float array}`` in stimulus order.

    ``stimuli``: what the extractor accepts (paths, :class:`~model_registry.stimuli.Stimuli`); ``stimulus_set``: a
    zero-argument callable returning the Brain-Score ``StimulusSet`` of the same images, used only for models
    without an ``activations`` method.
    """
    layers = list(layers or default_layers(candidate))
    if hasattr(candidate, "activations"):
        return layer_blocks(candidate.activations(stimuli, layers))
    stimulus_ids = list(stimulus_set()["stimulus_id"])
    features = {}
    for region in layers:
        candidate.start_recording(region, [(70, 170)])
        responses = candidate.look_at(stimulus_set())
        if "time_bin" in responses.dims:
            responses = responses.squeeze("time_bin", drop=True)
        order = {sid: i for i, sid in enumerate(responses["stimulus_id"].values)}
        missing = [sid for sid in stimulus_ids if sid not in order]
        if missing:
            raise ValueError(f"model {candidate.identifier} returned no responses for stimuli {missing[:5]}")
        values = np.asarray(responses.transpose("presentation", "neuroid").values)
        features[region] = values[[order[sid] for sid in stimulus_ids]]
    return features


def layer_rdms(features: dict[str, np.ndarray], layers: Sequence[str], model_identifier: str = "") -> np.ndarray:
    """1 - Pearson RDMs ``(n_layers, n_pairs)`` of ``features[layer]`` ``(n_images, n_features)`` for ``layers``.

    Raises ``ValueError`` naming the model and the layer for non-finite features (NaN or inf, e.g. NaN weights or
    a float16 overflow), with the count and the first image, and for any other feature the RDM cannot use.
    """
    name = model_identifier or "(unnamed)"
    rdms = []
    for layer in layers:
        values = np.asarray(features[layer])
        if values.dtype.kind in "fc":
            finite = np.isfinite(values)
            if not finite.all():
                bad = ~finite.reshape(len(values), -1)
                images = np.flatnonzero(bad.any(axis=1))
                n_nan = int(np.isnan(values).sum())
                raise ValueError(
                    f"model {name} layer {layer!r}: {int(bad.sum())} of {values.size} features are not finite "
                    f"({n_nan} NaN, {int(bad.sum()) - n_nan} inf), in {len(images)} of {len(values)} images (first: "
                    f"image {int(images[0])}); expected finite activations (NaN weights? an overflow?)")
        try:
            rdms.append(model_rdm(values.reshape(len(values), -1)))
        except (ValueError, TypeError) as error:
            raise type(error)(f"model {name} layer {layer!r}: {error}") from None
    return np.stack(rdms)


def candidate_rdms(candidate, stimuli, stimulus_set, layers: Sequence[str], benchmark: str = "the benchmark"
                   ) -> np.ndarray:
    """Model RDMs ``(n_layers, n_pairs)`` over ``stimuli`` (their order) for ``layers``.

    An :class:`~benchmarks.rdm_model.RdmModel` gives its own RDMs, checked against and reordered by the stimulus
    ids (missing / extra ids refused, naming them); any other candidate is run (:func:`layer_features`) and its RDMs
    are 1 - Pearson (:func:`layer_rdms`).
    """
    if isinstance(candidate, RdmModel):
        return candidate.rdms_for(list(stimuli.ids), layers, benchmark)
    features = layer_features(candidate, stimuli, stimulus_set, layers)
    return layer_rdms(features, layers, getattr(candidate, "identifier", ""))
