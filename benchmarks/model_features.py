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


def default_layers(candidate) -> list[str]:
    """The candidate's default layers (registered models), else the four ventral-stream regions."""
    return list(getattr(candidate, "layers", None) or BRAIN_REGIONS)


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
