"""The Brain-Score ``BrainModel`` adapter around a registered network and the activations extractor.

Regions are committed to layers by the spec's ``region_layer_map``. When a region's layer is a recurrent block
whose ``<layer>.output`` module runs T times, requested time bins map onto steps: one bin reads the final step
(the block's output); n > 1 bins, sorted by start, read steps ``round(i * (T - 1) / (n - 1))``, so the first bin
sees step 0 and the last bin the final step. Every request is computed for the layers it names (the cache key
contains the layer list), so asking for V4 after IT returns V4.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from brainscore_core.supported_data_standards.brainio.assemblies import BehavioralAssembly, NeuroidAssembly
from brainscore_vision.model_interface import BrainModel

from .extractor import ActivationsExtractor, layer_blocks
from .reduction import Reduction
from .registry import ModelSpec, get_spec
from .stimuli import as_stimuli


class RegisteredModel(BrainModel):
    """A registered model as a Brain-Score ``BrainModel``; the network is built on first use."""

    def __init__(self, spec: ModelSpec, *, network: torch.nn.Module | None = None, pretrained: bool = True,
                 device: str | torch.device | None = None, batch_size: int = 32, cache=True, progress: bool = True):
        self.spec = spec
        self._network = network
        self._pretrained = pretrained
        self._options = {"device": device, "batch_size": batch_size, "cache": cache, "progress": progress}
        self._recording: tuple[str, list[tuple[int, int]] | None] | None = None
        self._task: tuple[str, object] = (BrainModel.Task.passive, None)

    # --- identity -------------------------------------------------------------------------------------------
    @property
    def identifier(self) -> str:
        return self.spec.identifier

    def visual_degrees(self) -> float:
        return self.spec.visual_degrees

    @property
    def network(self) -> torch.nn.Module:
        """The ``torch.nn.Module`` (built lazily, eval mode)."""
        if self._network is None:
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

    # --- activations ----------------------------------------------------------------------------------------
    def extractor(self, **options) -> ActivationsExtractor:
        merged = {**self._options, **{k: v for k, v in options.items() if v is not None}}
        return ActivationsExtractor(self.network, self.spec.preprocessing, identifier=self.identifier, **merged)

    def activations(self, stimuli, layers: Sequence[str] | None = None, *, reduction: Reduction | None = None,
                    **options) -> NeuroidAssembly:
        """Layer activations ``(presentation, neuroid)`` for ``stimuli``; default layers from the spec."""
        return self.extractor(**options)(stimuli, list(layers or self.layers), reduction)

    # --- BrainModel -----------------------------------------------------------------------------------------
    def start_task(self, task: str, fitting_stimuli=None) -> None:
        if task == BrainModel.Task.passive:
            self._task = (task, None)
        elif task == BrainModel.Task.label and (fitting_stimuli in (None, "imagenet")):
            if not self.spec.logits_layer:
                raise ValueError(f"model {self.identifier} has no ImageNet logits layer for the label task")
            self._task = (task, "imagenet")
        else:
            raise ValueError(f"model {self.identifier} supports the tasks 'passive' and 'label' on 'imagenet', "
                             f"got task={task!r} with {fitting_stimuli!r}")
        self._recording = None

    def start_recording(self, recording_target: str, time_bins: list[tuple[int, int]] | None = None) -> None:
        if recording_target not in self.spec.region_layer_map:
            raise ValueError(f"model {self.identifier} has no layer committed to region {recording_target!r}; "
                             f"committed regions: {sorted(self.spec.region_layer_map)}")
        bins = [tuple(int(t) for t in b) for b in time_bins] if time_bins is not None else None
        self._recording = (recording_target, bins)

    def look_at(self, stimuli, number_of_trials: int = 1):
        """Recorded region responses ``(presentation, neuroid, time_bin)``, or labels when the label task runs."""
        if self._recording is None and self._task[0] == BrainModel.Task.label:
            return self._labels(stimuli)
        if self._recording is None:
            raise RuntimeError("call start_recording(region, time_bins) or start_task('label') before look_at")
        region, bins = self._recording
        layers = self.recording_layers(region, len(bins) if bins else 1)
        assembly = self.activations(stimuli, list(dict.fromkeys(layers)))
        blocks = layer_blocks(assembly)
        values = np.stack([blocks[layer] for layer in layers], axis=-1)  # (presentation, neuroid, time_bin)
        bins = bins or [(70, 170)]
        return NeuroidAssembly(
            values,
            coords={**_stimulus_columns(stimuli),
                    "stimulus_id": ("presentation", assembly["stimulus_id"].values),
                    "stimulus_path": ("presentation", assembly["stimulus_path"].values),
                    "neuroid_id": ("neuroid", [f"{region}.{i}" for i in range(values.shape[1])]),
                    "neuroid_num": ("neuroid", np.arange(values.shape[1])),
                    "region": ("neuroid", [region] * values.shape[1]),
                    "layer": ("neuroid", [layers[-1]] * values.shape[1]),
                    "time_bin_start": ("time_bin", [b[0] for b in bins]),
                    "time_bin_end": ("time_bin", [b[1] for b in bins])},
            dims=["presentation", "neuroid", "time_bin"],
        )

    def recording_layers(self, region: str, n_bins: int) -> list[str]:
        """The layer read for each of ``n_bins`` time bins of ``region`` (recurrent steps spread over bins)."""
        layer = self.spec.region_layer_map[region]
        steps = self.spec.extra.get("recurrent_steps", {}).get(f"{layer}.output", 1)
        if n_bins <= 1 or steps <= 1:
            return [layer] * max(1, n_bins)
        return [f"{layer}.output-t{round(i * (steps - 1) / (n_bins - 1))}" for i in range(n_bins)]

    def _labels(self, stimuli) -> BehavioralAssembly:
        from timm.data import ImageNetInfo

        stimuli = as_stimuli(stimuli)
        logits = layer_blocks(self.activations(stimuli, [self.spec.logits_layer]))[self.spec.logits_layer]
        indices = logits.argmax(axis=1)
        info = ImageNetInfo()
        synsets = [info.index_to_label_name(int(i)) for i in indices]
        return BehavioralAssembly(
            [[s] for s in synsets],
            coords={"stimulus_id": ("presentation", list(stimuli.ids)), "logit": ("presentation", indices),
                    "synset": ("presentation", synsets)},
            dims=["presentation", "choice"],
        )


def _stimulus_columns(stimuli) -> dict:
    """A StimulusSet's metadata columns as presentation coordinates (Brain-Score copies them onto responses)."""
    columns = getattr(stimuli, "columns", ())
    return {str(c): ("presentation", np.asarray(stimuli[c].values)) for c in columns
            if c not in ("stimulus_id", "stimulus_path", "filename") and not str(c).startswith("_")}


def load_model(identifier: str, *, pretrained: bool = True, **options) -> RegisteredModel:
    """The registered model ``identifier`` as a :class:`RegisteredModel` (a Brain-Score ``BrainModel``)."""
    return RegisteredModel(get_spec(identifier), pretrained=pretrained, **options)
