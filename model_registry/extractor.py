"""One activations extractor for every model: forward hooks, every recurrent step, bounded memory, disk cache.

A module called several times in one forward pass (CORnet-S ``V4.output``: 4 calls) yields one output per call,
addressed as ``V4.output-t0`` ... ``V4.output-t3``; asking for ``V4.output`` without a step returns all of them.
Results are ``NeuroidAssembly`` objects (presentation x neuroid) with ``stimulus_id``, ``layer``, ``module``,
``time_step`` coordinates. Large results are written straight into a memory-mapped file instead of RAM.
"""
from __future__ import annotations

import concurrent.futures
import difflib
import json
import logging
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .activation_cache import ActivationCache, RowHasher, cache_key
from .device import resolve_device
from .fingerprint import weights_hash
from .paths import cache_dir
from .preprocessing import Preprocessing
from .reduction import Reduction
from .stimuli import Stimuli, as_stimuli

logger = logging.getLogger(__name__)
STEP_SUFFIX = re.compile(r"^(?P<module>.+)-t(?P<step>\d+)$")
DEFAULT_STREAM_THRESHOLD = 1 << 30  # bytes of output above which rows go to a memory-mapped file


@dataclass(frozen=True)
class LayerBlock:
    """Columns ``start:stop`` of the feature matrix hold ``layer`` (= call ``step`` of ``module``)."""

    layer: str
    module: str
    step: int
    shape: tuple[int, ...]
    start: int
    stop: int


def parse_layer(name: str) -> tuple[str, int | None]:
    """``'V4.output-t2'`` -> ``('V4.output', 2)``; ``'V4'`` -> ``('V4', None)``."""
    match = STEP_SUFFIX.match(name)
    return (match["module"], int(match["step"])) if match else (name, None)


class _Recorder:
    """Forward hooks that append every call's output per module (nothing is overwritten)."""

    def __init__(self, network: torch.nn.Module, modules: Sequence[str]):
        named = dict(network.named_modules())
        self.outputs: dict[str, list[torch.Tensor]] = {m: [] for m in modules}
        self.handles = []
        for module_name in modules:
            if module_name not in named:
                close = difflib.get_close_matches(module_name, [n for n in named if n], n=5, cutoff=0.4)
                raise ValueError(f"layer {module_name!r} is not a module of {type(network).__name__}"
                                 + (f"; close names: {', '.join(close)}" if close else ""))
            self.handles.append(named[module_name].register_forward_hook(self._hook(module_name)))

    def _hook(self, module_name: str):
        def record(_module, _inputs, output):
            if isinstance(output, (tuple, list)):
                output = output[0]
            if not isinstance(output, torch.Tensor):
                raise TypeError(f"module {module_name!r} returned {type(output).__name__}, not a tensor")
            self.outputs[module_name].append(output.detach())

        return record

    def clear(self) -> None:
        for calls in self.outputs.values():
            calls.clear()

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


class ActivationsExtractor:
    """Extracts layer activations of ``network`` for stimuli, batched, with a content-keyed disk cache.

    ``cache``: ``True`` for the default ``$REALNET_HOME/cache/activations``, a folder path, or ``False``.
    ``stream_threshold_bytes``: results larger than this are written to a memory-mapped file, not RAM.
    """

    def __init__(self, network: torch.nn.Module, preprocessing: Preprocessing | None = None, *,
                 identifier: str | None = None, device: str | torch.device | None = None, batch_size: int = 32,
                 cache: bool | str | Path = True, progress: bool = True,
                 stream_threshold_bytes: int = DEFAULT_STREAM_THRESHOLD):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.network = network
        self.preprocessing = preprocessing or Preprocessing()
        self.identifier = identifier or type(network).__name__
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.cache = None if cache is False else ActivationCache(None if cache is True else cache)
        self.progress = progress
        self.stream_threshold_bytes = stream_threshold_bytes

    def __call__(self, stimuli, layers: Sequence[str], reduction: Reduction | None = None):
        """Activations of ``layers`` for ``stimuli`` -> ``NeuroidAssembly (presentation, neuroid)``."""
        stimuli = as_stimuli(stimuli)
        layers = _check_layers(layers)
        reduction = reduction or Reduction()
        if self.cache is None:
            data, blocks = self._compute(stimuli, layers, reduction, building=None)
            return _assembly(data, blocks, stimuli, self.identifier)
        key = cache_key(weights=weights_hash(self.network), preprocessing=self.preprocessing.descriptor(),
                        layers=json.dumps(list(layers)), reduction=reduction.descriptor(),
                        stimuli=stimuli.content_hash(), network=type(self.network).__qualname__)
        with self.cache.lock(key):
            cached = self.cache.load(key)
            if cached is None:
                building = self.cache.new_entry(key)
                try:
                    # no msync: the rename publishes the page-cached file to every process at once, and an entry
                    # damaged by a crash before the kernel writes it back fails its checksum and is recomputed
                    data, blocks, checksum = self._compute(stimuli, layers, reduction, building=building)
                    meta = {"shape": list(data.shape), "checksum": checksum, "blocks": [b.__dict__ for b in blocks],
                            "stimulus_ids": list(stimuli.ids), "identifier": self.identifier}
                    self.cache.commit(key, building, meta)
                except BaseException:
                    shutil.rmtree(building, ignore_errors=True)
                    raise
            else:
                data, meta = cached
                blocks = [LayerBlock(**{**b, "shape": tuple(b["shape"])}) for b in meta["blocks"]]
                if meta["stimulus_ids"] != list(stimuli.ids):
                    raise RuntimeError(f"activation cache entry {self.cache.entry_dir(key)} holds other stimulus "
                                       "ids than its key says; delete it")
        return _assembly(data, blocks, stimuli, self.identifier)

    def _batches(self, stimuli: Stimuli):
        """Yield ``(start, pixels (B, 3, H, W))``, preparing the next batch in a thread while the model runs."""
        starts = range(0, len(stimuli), self.batch_size)

        def load(start: int) -> torch.Tensor:
            stop = min(start + self.batch_size, len(stimuli))
            return torch.stack([self.preprocessing(stimuli.image(i)) for i in range(start, stop)])

        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(load, starts[0])
            for index, start in enumerate(starts):
                pixels = pending.result()
                if index + 1 < len(starts):
                    pending = pool.submit(load, starts[index + 1])
                yield start, pixels

    def _compute(self, stimuli: Stimuli, layers: Sequence[str], reduction: Reduction, building: Path | None):
        """Run all batches. Copying a batch's outputs into ``data`` (and checksumming it) happens in a writer
        thread while the next batch runs through the network; numpy and zlib release the GIL for large buffers."""
        requested = [parse_layer(name) for name in layers]
        modules = list(dict.fromkeys(module for module, _ in requested))
        network = self.network.to(self.device).eval()
        recorder = _Recorder(network, modules)
        hasher = RowHasher() if building is not None else None  # the checksum is only needed for the cache
        data, blocks, writes = None, None, []

        def write(start: int, tensors: list[torch.Tensor]) -> None:
            stop = start + len(tensors[0])
            for block, tensor in zip(blocks, tensors):
                data[start:stop, block.start:block.stop] = tensor.to("cpu", torch.float32).numpy()
            if hasher is not None:
                hasher.update_rows(data[start:stop])

        try:
            with torch.no_grad(), concurrent.futures.ThreadPoolExecutor(max_workers=1) as writer, tqdm(
                    total=len(stimuli), desc=f"activations {self.identifier}", unit="img",
                    disable=not self.progress, leave=False) as bar:
                for start, pixels in self._batches(stimuli):
                    recorder.clear()
                    network(pixels.to(self.device, non_blocking=True))
                    features = _select(recorder.outputs, requested, layers, reduction)
                    if blocks is None:
                        blocks = _layout(features)
                        data = self._allocate(len(stimuli), blocks[-1].stop, building)
                    writes.append(writer.submit(write, start, [feature[-1] for feature in features]))
                    if len(writes) > 1:  # at most one batch waits to be written
                        writes.pop(0).result()
                    bar.update(len(pixels))
                for pending in writes:
                    pending.result()
        finally:
            recorder.remove()
        if building is None:
            return data, blocks
        return data, blocks, hasher.hexdigest()

    def _allocate(self, n_rows: int, n_columns: int, building: Path | None) -> np.ndarray:
        """RAM for small results without cache; otherwise a memory map (the cache file itself when caching)."""
        if building is not None:
            return np.lib.format.open_memmap(building / "data.npy", mode="w+", dtype=np.float32,
                                             shape=(n_rows, n_columns))
        if n_rows * n_columns * 4 <= self.stream_threshold_bytes:
            return np.empty((n_rows, n_columns), dtype=np.float32)
        scratch = cache_dir("scratch")
        scratch.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=scratch, suffix=".npy") as handle:  # unlinked; the map stays valid
            return np.lib.format.open_memmap(handle.name, mode="w+", dtype=np.float32, shape=(n_rows, n_columns))


def _check_layers(layers: Sequence[str]) -> list[str]:
    if isinstance(layers, str):
        layers = [layers]
    layers = list(layers)
    if not layers:
        raise ValueError("no layers requested")
    if len(set(layers)) != len(layers):
        raise ValueError(f"layers are listed more than once: {layers}")
    return layers


def _select(outputs: dict[str, list[torch.Tensor]], requested, names, reduction: Reduction) -> list[tuple]:
    """Per requested layer (expanded over steps): ``(layer, module, step, output shape, (B, F) reduced)``."""
    selected = []
    for name, (module, step) in zip(names, requested):
        calls = outputs[module]
        if not calls:
            raise RuntimeError(f"module {module!r} was not called during the forward pass")
        if step is not None and step >= len(calls):
            raise ValueError(f"layer {name!r}: module {module!r} is called {len(calls)} times per forward pass "
                             f"(steps t0..t{len(calls) - 1})")
        for s in [step] if step is not None else range(len(calls)):
            layer = name if step is not None or len(calls) == 1 else f"{module}-t{s}"
            selected.append((layer, module, s, tuple(calls[s].shape[1:]), reduction.apply(calls[s], layer)))
    return selected


def _layout(features: list[tuple]) -> list[LayerBlock]:
    blocks, start = [], 0
    for layer, module, step, shape, reduced in features:
        blocks.append(LayerBlock(layer, module, step, shape, start, start + reduced.shape[1]))
        start += reduced.shape[1]
    return blocks


def _assembly(data: np.ndarray, blocks: Sequence[LayerBlock], stimuli: Stimuli, identifier: str):
    """Wrap ``data (n_stimuli, n_features)`` without copying; the neuroid MultiIndex is built from codes directly
    (no factorisation of millions of labels), so wrapping costs milliseconds even for CORnet-S's 650k features."""
    import pandas as pd
    from brainscore_core.supported_data_standards.brainio.assemblies import NeuroidAssembly

    sizes = [b.stop - b.start for b in blocks]
    block_codes = np.repeat(np.arange(len(blocks)), sizes)
    layer_names = [b.layer for b in blocks]
    modules = list(dict.fromkeys(b.module for b in blocks))
    steps = sorted({b.step for b in blocks})
    n_features = int(sum(sizes))
    longest = max(sizes)
    neuroids = pd.MultiIndex(
        levels=[np.arange(n_features), layer_names, modules, steps, np.arange(longest)],
        codes=[np.arange(n_features), block_codes,
               np.array([modules.index(b.module) for b in blocks])[block_codes],
               np.array([steps.index(b.step) for b in blocks])[block_codes],
               np.concatenate([np.arange(size) for size in sizes])],
        names=["neuroid_id", "layer", "module", "time_step", "neuroid_num"], verify_integrity=False)
    paths = [str(p) if p is not None else "" for p in stimuli.paths]
    presentations = pd.MultiIndex.from_arrays([list(stimuli.ids), paths], names=["stimulus_id", "stimulus_path"])
    assembly = NeuroidAssembly(data, coords={"presentation": presentations, "neuroid": neuroids},
                               dims=["presentation", "neuroid"])
    assembly.attrs["model_identifier"] = identifier
    assembly.attrs["layer_blocks"] = json.dumps([[b.layer, b.start, b.stop, list(b.shape)] for b in blocks])
    return assembly


def layer_blocks(assembly) -> dict[str, np.ndarray]:
    """Split an extractor assembly into ``{layer: (n_stimuli, n_features) array}`` views, in layer order."""
    values = assembly.values
    return {layer: values[:, start:stop] for layer, start, stop, _ in json.loads(assembly.attrs["layer_blocks"])}


def extract(model, stimuli, layers: Sequence[str] | None = None, *, reduction: Reduction | None = None,
            **options):
    """Activations of ``layers`` of ``model`` for ``stimuli`` -> ``NeuroidAssembly (presentation, neuroid)``.

    ``model`` is a registered model (from :func:`model_registry.load_model`, whose default layers and
    preprocessing apply) or any ``torch.nn.Module`` (then ``layers`` are required; ``preprocessing=`` optional).
    ``options`` go to :class:`ActivationsExtractor` (``device``, ``batch_size``, ``cache``, ``progress``, ...).
    """
    if hasattr(model, "activations"):
        return model.activations(stimuli, layers, reduction=reduction, **options)
    if layers is None:
        raise ValueError("layers are required when extracting from a bare torch module")
    return ActivationsExtractor(model, **options)(stimuli, layers, reduction)
