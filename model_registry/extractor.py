"""One activations extractor for every model: forward hooks, every recurrent step, bounded memory, disk cache.

A module called several times in one forward pass (CORnet-S ``V4.output``: 4 calls) yields one output per call,
addressed as ``V4.output-t0`` ... ``V4.output-t3``; asking for ``V4.output`` without a step returns all of them.
Results are ``NeuroidAssembly`` objects (presentation x neuroid) with ``stimulus_id``, ``layer``, ``module``,
``time_step`` coordinates. Large results are written straight into a memory-mapped file instead of RAM.

What a layer's value is, for every model:

- The module's own output at the time it returned, even when a later ``inplace=True`` op (AlexNet/VGG ReLUs after
  ``features.0``, ResNet ``bn1``, CORnet-S ``V1.norm1``) or a write through ``.data`` rewrites that memory. Each
  output's in-place version counter and two sums of its values are recorded at hook time and compared after the
  forward pass and again after its rows are written; a module
  whose output changed is copied at hook time from then on and the batch is recomputed. Only those modules pay for
  a copy.
- One row per image: the image axis is the declared one (``layer_layouts``, see :mod:`model_registry.layout`),
  else axis 0 when it is the only axis of size N (the batch size), else the only axis whose size follows N when
  the first images are run again as a batch of another size; otherwise the extraction stops with an error that
  says how to declare it. The decision is taken on the first batch and every later batch (the last, smaller one
  too) must fit it. Every row of the result is written (checked).
- Tuple / list outputs give element 0 (or the declared ``item``), dict outputs the declared key.
- The caller's network keeps its per-module training flags and its device.
"""
from __future__ import annotations

import collections
import concurrent.futures
import difflib
import errno
import itertools
import json
import logging
import os
import re
import shutil
import tempfile
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .device import ieee_float32, resolve_device
from .layout import LayerLayout, as_layouts
from .preprocessing import Preprocessing
from .reduction import Reduction
from .stimuli import Stimuli, as_stimuli
from .storage.activation_cache import ActivationCache, RowHasher, cache_key
from .storage.cleanup import DiskFullError, atomic_temps, format_size, hold, remove_stale_temps, reserve, sweep_once
from .storage.fingerprint import structure_digest, weights_hash
from .storage.paths import cache_dir

logger = logging.getLogger(__name__)
STEP_SUFFIX = re.compile(r"^(?P<module>.+)-t(?P<step>\d+)$")
DEFAULT_STREAM_THRESHOLD = 1 << 30  # bytes of output above which rows go to a memory-mapped file
# part of the cache key; version 2 returns hook-time values under later in-place ops and finds the image axis
# (entries of version 1 may hold outputs rewritten by an in-place ReLU); version 3 also catches writes through .data
EXTRACTOR_VERSION = "3"
# per network, the modules whose outputs were found rewritten in place: later extractions copy them from the start
_REWRITTEN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


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


def _pick_tensor(module_name: str, output, item: int | str | None) -> torch.Tensor:
    """The activations tensor in a module's ``output`` (the rule is documented in ``layout.py``).

    A tensor is read as is; a tuple / list yields element ``item`` (default 0, PyTorch's primary output); a dict
    yields key ``item``, which must be declared. Raises ``TypeError`` / ``ValueError`` naming the module otherwise.
    """
    declare = (f"declare the element to read with layer_layouts={{{module_name!r}: LayerLayout(item=...)}} "
               "(ModelSpec or ActivationsExtractor)")
    kind = type(output).__name__
    if isinstance(output, Mapping):
        keys = [str(key) for key in output]
        if item is None:
            raise TypeError(f"module {module_name!r} returned a {kind} with keys {keys}; {declare}")
        if item not in output:
            raise ValueError(f"module {module_name!r} returned a {kind} with keys {keys}, which lack the declared "
                             f"item {item!r}")
        output = output[item]
    elif isinstance(output, (tuple, list)):
        index = 0 if item is None else item
        if not isinstance(index, int) or not -len(output) <= index < len(output):
            raise ValueError(f"module {module_name!r} returned a {kind} of {len(output)} elements; the declared item "
                             f"{item!r} is not an index into it")
        if item is None and not isinstance(output[0], torch.Tensor):
            types = [type(element).__name__ for element in output]
            raise TypeError(f"module {module_name!r} returned a {kind} whose element 0 is not a tensor (elements: "
                            f"{types}); {declare}")
        output = output[index]
    elif item is not None:
        raise ValueError(f"the layout of module {module_name!r} declares item {item!r}, but the module returned a "
                         f"{kind}, not a tuple, list or dict")
    if not isinstance(output, torch.Tensor):
        raise TypeError(f"module {module_name!r} returned {type(output).__name__}, not a tensor")
    return output


class _Stamp:
    """What an output held at hook time: its in-place version counter and two sums of its values. A write through
    ``tensor.data`` (``y.data.clamp_(min=0)``) rewrites the memory without bumping the counter; the sums see it."""

    __slots__ = ("version", "sums")

    def __init__(self, tensor: torch.Tensor):
        self.version = tensor._version
        self.sums = _sums(tensor)

    def changed(self, tensor: torch.Tensor) -> bool:
        if tensor._version != self.version:
            return True
        now = _sums(tensor)
        return not bool(((now == self.sums) | (now.isnan() & self.sums.isnan())).all())


def _sums(tensor: torch.Tensor) -> torch.Tensor:
    """The sum and the sum of |values|, in the tensor's own floating dtype (no converted copy: two reads of its
    memory); the same reduction over unchanged memory gives the same result."""
    values = tensor if tensor.is_floating_point() or tensor.is_complex() else tensor.double()
    if values.is_complex():
        values = torch.view_as_real(values)
    return torch.stack([values.sum(), torch.linalg.vector_norm(values, 1)])


class _Recorder:
    """Forward hooks that append every call's output per module (nothing is overwritten).

    Each call is kept as ``(tensor, stamp, shape)``: ``stamp`` (:class:`_Stamp`) holds the tensor's in-place version
    counter at hook time (any later in-place write to it or to a view of it increments the counter) and two sums of
    its values (a write through ``.data`` increments none), or ``None`` when the hook stored a private copy (modules
    in ``clone``, and inference-mode tensors, which carry no counter).
    """

    def __init__(self, network: torch.nn.Module, modules: Sequence[str], layouts: Mapping[str, LayerLayout]):
        named = dict(network.named_modules())
        for module_name in modules:  # all names checked before any hook is registered: an error leaves no hook
            if module_name not in named:
                close = difflib.get_close_matches(module_name, [n for n in named if n], n=5, cutoff=0.4)
                raise ValueError(f"layer {module_name!r} is not a module of {type(network).__name__}"
                                 + (f"; close names: {', '.join(close)}" if close else ""))
        self.clone: set[str] = set(_REWRITTEN.get(network, ()))  # learnt by earlier extractions of this network
        self.outputs: dict[str, list[tuple]] = {m: [] for m in modules}
        self.handles = []
        for module_name in modules:
            item = layouts[module_name].item if module_name in layouts else None
            self.handles.append(named[module_name].register_forward_hook(self._hook(module_name, item)))

    def _hook(self, module_name: str, item: int | str | None):
        def record(_module, _inputs, output):
            tensor = _pick_tensor(module_name, output, item).detach()  # detach shares the version counter
            if module_name in self.clone or tensor.is_inference():
                self.outputs[module_name].append((tensor.clone(), None, tuple(tensor.shape)))
            else:
                self.outputs[module_name].append((tensor, _Stamp(tensor), tuple(tensor.shape)))

        return record

    def take(self) -> dict[str, list[tuple]]:
        """The calls recorded since the last ``take`` (``{module: [(tensor, stamp, shape), ...]}``)."""
        outputs, self.outputs = self.outputs, {m: [] for m in self.outputs}
        return outputs

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def _same_device(a: torch.device, b: torch.device) -> bool:
    def index(device: torch.device):
        return torch.cuda.current_device() if device.type == "cuda" and device.index is None else device.index

    return a.type == b.type and (a.type == "cpu" or index(a) == index(b))


class _NetworkState:
    """The caller's per-module training flags and the network's device, put back after extraction."""

    def __init__(self, network: torch.nn.Module, device: torch.device):
        self.network = network
        self.modes = [(module, module.training) for module in network.modules()]
        devices = {t.device for t in itertools.chain(network.parameters(), network.buffers())}
        self.original = next(iter(devices)) if len(devices) == 1 else None
        self.move = any(not _same_device(d, device) for d in devices)
        if self.move and len(devices) > 1:
            raise ValueError(f"the network's parameters and buffers are on several devices "
                             f"({', '.join(sorted(map(str, devices)))}); extraction runs it on {device}, and could not "
                             "put it back: move it to one device first")
        self.device = device

    def enter(self) -> None:
        if self.move:
            self.network.to(self.device)
        self.network.eval()

    def restore(self) -> None:
        if self.move:
            self.network.to(self.original)
        for module, training in self.modes:
            module.training = training


@dataclass(frozen=True)
class _Plan:
    """How layer ``layer`` (call ``step`` of ``module``, called ``calls`` times) becomes rows: its image axis is
    ``axis``; ``shape`` is the per-image shape once that axis is moved first."""

    layer: str
    module: str
    step: int
    calls: int
    axis: int
    shape: tuple[int, ...]

    def output_shape(self, n: int) -> tuple[int, ...]:
        return self.shape[:self.axis] + (n,) + self.shape[self.axis:]


@dataclass
class _Batch:
    """Reduced features ``(n, F)`` of rows ``start:start + n``; ``late`` lists ``(module, tensor, stamp)`` of
    outputs the features still share memory with (they must stay unchanged until the rows are written)."""

    start: int
    pixels: torch.Tensor
    features: list[torch.Tensor]
    late: list[tuple[str, torch.Tensor, _Stamp]]
    staged: tuple[list[torch.Tensor | None], object] | None = None  # CUDA: pinned copies in flight, their event


def _shares_memory(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether ``a`` may read memory of ``b`` (True when it cannot be told, e.g. for tensors without storage)."""
    try:
        return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()
    except (RuntimeError, NotImplementedError):
        return True


def _not_batch_first(layer: str, module: str, shape: tuple[int, ...], n: int, why: str) -> str:
    letters = "ABCDEFGHIJKLMOPQRSTUVWXYZ"  # no N
    candidates = [i for i, size in enumerate(shape) if size == n]
    example = ("".join("N" if i in candidates else letters[i % 25] for i in range(len(shape)))
               if len(candidates) == 1 else "LND")
    return (f"layer {layer!r}: its output of shape {shape} on a batch of {n} images is not batch-first and its image "
            f"axis cannot be found ({why}); declare it with layer_layouts={{{module!r}: LayerLayout(axes=...)}} in "
            f"the ModelSpec or ActivationsExtractor, one letter per axis and 'N' for the images (e.g. {example!r})")


# Overlapped feature copies on CUDA (_Run.stage) stay off until perf/gpu_check.py has shown, on a GPU, that they give
# the synchronous copy's values (it times and compares both); the synchronous path is the one measured on an H200.
STAGE_CUDA_COPIES = False


class _Run:
    """One extraction over all batches: forward, layout plan, in-place checks, writes, checksum, row coverage.

    In-place guarantee: a layer's value is the module's output at hook time. Every recorded output's stamp (version
    counter and sums, :class:`_Stamp`) is compared right after the forward pass (and reduction) and again once its
    rows are written while no forward runs; a module whose output changed is switched to copy-in-hook and the batch
    is recomputed, so a stale value is never written (modules rewritten only on some batches included), and outputs
    nobody rewrites are never copied.
    """

    def __init__(self, extractor: ActivationsExtractor, recorder: _Recorder, names: Sequence[str],
                 reduction: Reduction, n_rows: int, building: Path | None,
                 writer: concurrent.futures.ThreadPoolExecutor):
        self.extractor = extractor
        self.network = extractor.network
        self.recorder = recorder
        self.names = list(names)
        self.requested = [parse_layer(name) for name in names]
        self.reduction = reduction
        self.n_rows = n_rows
        self.building = building
        self.writer = writer
        self.plans: list[_Plan] | None = None
        self.blocks: list[LayerBlock] | None = None
        self.data: np.ndarray | None = None
        self.covered = np.zeros(n_rows, dtype=bool)
        self.hasher = RowHasher() if building is not None else None  # the checksum is only needed for the cache
        self.hashes: list[concurrent.futures.Future] = []
        self.copy_stream = None

    def _forward(self, pixels: torch.Tensor) -> dict[str, list[tuple]]:
        # a copy: a network that edits its input in place must not change the pixels a recomputation reuses
        self.network(pixels.to(self.extractor.device, non_blocking=True, copy=True))
        return self.recorder.take()

    def batch(self, start: int, pixels: torch.Tensor) -> _Batch:
        """Run one batch until no recorded output was rewritten during the forward pass or the reduction."""
        while True:
            outputs = self._forward(pixels)
            if self.plans is None:
                self.plans = self._plan(outputs, pixels)
            features, watch = self._features(outputs, len(pixels), start)
            changed = {module for module, tensor, stamp, _ in watch if stamp.changed(tensor)}
            if not changed:
                if self.blocks is None:
                    self.blocks = _layout(self.plans, features)
                    self.data = self.extractor._allocate(self.n_rows, self.blocks[-1].stop, self.building)
                return _Batch(start, pixels, features, [(m, t, v) for m, t, v, shared in watch if shared])
            self._copy_in_hook(changed)

    def _copy_in_hook(self, modules: set[str]) -> None:
        logger.info("outputs of %s are rewritten in place later in the forward pass; they are copied at hook time "
                    "from now on", sorted(modules))
        self.recorder.clone |= modules
        _REWRITTEN.setdefault(self.network, set()).update(modules)

    def _plan(self, outputs: dict[str, list[tuple]], pixels: torch.Tensor) -> list[_Plan]:
        """Per requested layer (expanded over steps) its image axis, decided once on the first batch.

        The image axis is the declared one, else the only axis whose size follows the batch size when the first
        images are run again as a batch of m != n. The re-run is skipped for an output whose only axis of size n is
        axis 0 when the last batch has another size (it confirms the axis there), so an output that merely happens to
        have n rows (a positional table of n entries) is never read as one row per image.
        """
        n = len(pixels)
        layouts = self.extractor.layer_layouts
        entries = []
        for name, (module, step) in zip(self.names, self.requested):
            calls = outputs[module]
            if not calls:
                hint = ""
                if module.startswith("_orig_mod.") or hasattr(self.network, "_orig_mod"):
                    hint = ("; the network is a torch.compile() wrapper, whose compiled graph bypasses module hooks: "
                            "pass the original module (compiled._orig_mod) instead")
                else:
                    hint = (" (extraction runs the network in eval mode, where some modules, e.g. auxiliary "
                            "classifiers, are skipped)")
                raise RuntimeError(f"module {module!r} was not called during the forward pass{hint}")
            if step is not None and step >= len(calls):
                raise ValueError(f"layer {name!r}: module {module!r} is called {len(calls)} times per forward pass "
                                 f"(steps t0..t{len(calls) - 1})")
            for s in [step] if step is not None else range(len(calls)):
                entries.append((name if step is not None or len(calls) == 1 else f"{module}-t{s}", module, s))
        axes, undecided = {}, []
        for layer, module, s in entries:
            shape = outputs[module][s][2]
            declared = layouts[module].axes if module in layouts else None
            if declared is not None:
                axis = declared.index("N")
                if len(declared) != len(shape) or shape[axis] != n:
                    raise ValueError(f"layer {layer!r}: the declared layout {declared!r} does not fit its output of "
                                     f"shape {shape} on a batch of {n} images (expected {len(declared)} axes, "
                                     f"axis {axis} of size {n})")
                axes[layer] = axis
                continue
            candidates = [d for d, size in enumerate(shape) if size == n]
            known = self.extractor._known_shapes.get(layer)
            if candidates and candidates[0] == 0 and known is not None and tuple(shape[1:]) == known:
                axes[layer] = 0  # a cache entry's check: the entry's own per-image shape (a mismatch is recomputed)
            elif candidates == [0] and (n == 1 or self.n_rows % n):
                axes[layer] = 0  # a later batch of another size confirms it (checked in _features)
            elif not candidates:
                raise ValueError(_not_batch_first(layer, module, shape, n, f"no axis has size {n}"))
            else:
                undecided.append((layer, module, s))
        if undecided:
            m = 3 if n == 2 else 2
            probe = self._forward(pixels[torch.arange(m) % n])
            for layer, module, s in undecided:
                shape = outputs[module][s][2]
                if len(probe[module]) != len(outputs[module]):
                    raise ValueError(_not_batch_first(layer, module, shape, n, f"a batch of {m} images calls the "
                                                      f"module {len(probe[module])} times, not {len(outputs[module])}"))
                probed = probe[module][s][2]
                found = [d for d in range(len(shape)) if len(probed) == len(shape) and shape[d] == n
                         and probed[d] == m and all(shape[e] == probed[e] for e in range(len(shape)) if e != d)]
                if len(found) != 1:
                    raise ValueError(_not_batch_first(layer, module, shape, n, f"on {m} images it is {probed}"))
                axes[layer] = found[0]
        plans = []
        for layer, module, s in entries:
            shape = outputs[module][s][2]
            axis = axes[layer]
            plans.append(_Plan(layer, module, s, len(outputs[module]), axis, shape[:axis] + shape[axis + 1:]))
        return plans

    def _features(self, outputs: dict[str, list[tuple]], n: int, start: int) -> tuple[list[torch.Tensor], list]:
        """Reduced ``(n, F)`` features per plan, checked against the first batch's layout, and the outputs read."""
        features, watch = [], []
        for index, plan in enumerate(self.plans):
            calls = outputs[plan.module]
            if len(calls) != plan.calls:
                raise RuntimeError(f"module {plan.module!r} ran {len(calls)} times on rows {start}..{start + n - 1} "
                                   f"but {plan.calls} times on the first batch; extraction needs the same calls on "
                                   "every batch")
            tensor, stamp, shape = calls[plan.step]
            if shape != plan.output_shape(n):
                raise ValueError(f"layer {plan.layer!r}: output shape {shape} on rows {start}..{start + n - 1} "
                                 f"({n} images) does not follow the first batch's layout (expected "
                                 f"{plan.output_shape(n)}, images on axis {plan.axis})")
            declared = self.extractor.layer_layouts.get(plan.module)
            axes = declared.axes if declared is not None and declared.axes else None
            axes = "N" + axes.replace("N", "") if axes and len(axes) == tensor.ndim else None  # images moved first
            reduced = self.reduction.apply(tensor.movedim(plan.axis, 0) if plan.axis else tensor, plan.layer, axes)
            width = None if self.blocks is None else self.blocks[index].stop - self.blocks[index].start
            if reduced.ndim != 2 or reduced.shape[0] != n or (width is not None and reduced.shape[1] != width):
                raise RuntimeError(f"layer {plan.layer!r}: reduced features of rows {start}..{start + n - 1} have "
                                   f"shape {tuple(reduced.shape)}, expected ({n}, {width or 'F'})")
            features.append(reduced)
            if stamp is not None:
                watch.append((plan.module, tensor, stamp, _shares_memory(reduced, tensor)))
        return features, watch

    def stage(self, batch: _Batch) -> None:
        """On CUDA, start copying the batch's features into pinned host memory on a side stream, so the copy overlaps
        the next batch's forward pass; :meth:`write` waits for it. A feature rewritten by a later forward pass while
        it is copied is caught by the version check in :meth:`finish`, as for the synchronous copy."""
        device = self.extractor.device
        if device.type != "cuda" or not STAGE_CUDA_COPIES:
            return
        if self.copy_stream is None:
            self.copy_stream = torch.cuda.Stream(device=device)
        self.copy_stream.wait_stream(torch.cuda.current_stream(device))
        hosts = []
        with torch.cuda.stream(self.copy_stream):
            for tensor in batch.features:
                if tensor.device.type != "cuda":  # a module that returns CPU tensors: copied in write()
                    hosts.append(None)
                    continue
                tensor.record_stream(self.copy_stream)  # its memory is not reused before the copy is done
                host = torch.empty(tuple(tensor.shape), dtype=torch.float32, pin_memory=True)
                host.copy_(tensor if tensor.dtype == torch.float32 else tensor.float(), non_blocking=True)
                hosts.append(host)
            done = torch.cuda.Event()
            done.record(self.copy_stream)
        batch.staged = (hosts, done)

    def write(self, batch: _Batch) -> None:
        """Copy a batch's features into its rows (runs in the writer thread)."""
        n = len(batch.pixels)
        stop = batch.start + n
        if batch.staged is not None:
            batch.staged[1].synchronize()
        for index, (block, tensor) in enumerate(zip(self.blocks, batch.features, strict=True)):
            host = batch.staged[0][index] if batch.staged is not None else None
            values = (host if host is not None else tensor.to("cpu", torch.float32)).numpy()
            if values.shape != (n, block.stop - block.start):
                raise RuntimeError(f"layer {block.layer!r}: rows {batch.start}..{stop - 1} got values of shape "
                                   f"{values.shape}, expected {(n, block.stop - block.start)}")
            self.data[batch.start:stop, block.start:block.stop] = values
        self.covered[batch.start:stop] = True

    def finish(self, batch: _Batch, written: concurrent.futures.Future) -> None:
        """Once a batch's rows are written and no forward pass runs: recompute it if an output it shared memory
        with was rewritten meanwhile, then checksum its rows (in order, in the writer thread)."""
        written.result()
        while True:
            changed = {module for module, tensor, stamp in batch.late if stamp.changed(tensor)}
            if not changed:
                break
            self._copy_in_hook(changed)
            batch = self.batch(batch.start, batch.pixels)
            self.write(batch)
        if self.hasher is not None:
            rows = self.data[batch.start:batch.start + len(batch.pixels)]
            self.hashes.append(self.writer.submit(self.hasher.update_rows, rows))

    def close(self) -> None:
        """Wait for the checksum and verify that every row was written."""
        for pending in self.hashes:
            pending.result()
        if not self.covered.all():
            missing = np.flatnonzero(~self.covered)
            raise RuntimeError(f"internal error: {len(missing)} rows of the activations were never written "
                               f"(first: {missing[:5].tolist()})")


class ActivationsExtractor:
    """Extracts layer activations of ``network`` for stimuli, batched, with a content-keyed disk cache.

    ``cache``: ``True`` for the default ``$REALNET_HOME/cache/activations``, a folder path, or ``False``.
    ``stream_threshold_bytes``: results larger than this are written to a memory-mapped file, not RAM.
    ``layer_layouts``: ``{module name: LayerLayout or axes string}`` for outputs that are not one batch-first
    tensor (see :mod:`model_registry.layout`); a registered model passes its ``ModelSpec.layer_layouts``.
    The network is put back in its own per-module training mode and on its own device afterwards.
    """

    def __init__(self, network: torch.nn.Module, preprocessing: Preprocessing | None = None, *,
                 identifier: str | None = None, device: str | torch.device | None = None, batch_size: int = 32,
                 cache: bool | str | Path = True, progress: bool = True,
                 stream_threshold_bytes: int = DEFAULT_STREAM_THRESHOLD,
                 layer_layouts: Mapping[str, str | LayerLayout] | None = None):
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
        self.layer_layouts = as_layouts(layer_layouts)
        self.cloned_modules: set[str] = set()  # modules whose outputs the last extraction had to copy at hook time
        self._known_shapes: dict[str, tuple[int, ...]] = {}  # per-image shapes of the entry being checked

    def __call__(self, stimuli, layers: Sequence[str], reduction: Reduction | None = None):
        """Activations of ``layers`` for ``stimuli`` -> ``NeuroidAssembly (presentation, neuroid)``."""
        stimuli = as_stimuli(stimuli)
        layers = _check_layers(layers)
        reduction = reduction or Reduction()
        if self.cache is None:
            data, blocks = self._compute(stimuli, layers, reduction, building=None)
            return _assembly(data, blocks, stimuli, self.identifier)
        layouts = json.dumps({name: layout.descriptor() for name, layout in sorted(self.layer_layouts.items())})
        key = cache_key(weights=weights_hash(self.network), structure=structure_digest(self.network),
                        preprocessing=self.preprocessing.descriptor(), layers=json.dumps(list(layers)),
                        reduction=reduction.descriptor(), stimuli=stimuli.content_hash(),
                        network=type(self.network).__qualname__, extractor=EXTRACTOR_VERSION, layouts=layouts)
        with self.cache.lock(key):
            cached = self.cache.load(key)
            if cached is not None:
                data, meta = cached
                blocks = [LayerBlock(**{**b, "shape": tuple(b["shape"])}) for b in meta["blocks"]]
                if meta["stimulus_ids"] != list(stimuli.ids):
                    raise RuntimeError(f"activation cache entry {self.cache.entry_dir(key)} holds other stimulus "
                                       "ids than its key says; delete it")
                if not self._entry_agrees(data, blocks, stimuli, layers, reduction, key):
                    del data
                    shutil.rmtree(self.cache.entry_dir(key), ignore_errors=True)
                    cached = None
            if cached is None:
                data, blocks = self._compute_cached(key, stimuli, layers, reduction)
        return _assembly(data, blocks, stimuli, self.identifier)

    def _entry_agrees(self, data: np.ndarray, blocks: list[LayerBlock], stimuli: Stimuli, layers: Sequence[str],
                      reduction: Reduction, key: str) -> bool:
        """Whether a cache entry still holds this network's outputs: its first row recomputed (a forward pass of one
        image) agrees to 1e-4 of each layer's largest |value|. The key covers the weights and the
        module structure; this catches what neither shows (a forward that changed through a global flag, a hook
        closure over an object without a stable description, ...). A disagreement is logged as a warning and the
        entry recomputed."""
        rows = [0]
        progress, self.progress = self.progress, False
        self._known_shapes = {block.layer: tuple(block.shape) for block in blocks}  # no re-run to find image axes
        try:
            fresh, fresh_blocks = self._compute(stimuli.subset(rows), layers, reduction, building=None)
        finally:
            self.progress, self._known_shapes = progress, {}
        if fresh_blocks != blocks:  # another layout: other columns, nothing to compare
            agrees = False
        else:
            cached = np.asarray(data[rows], dtype=np.float64)
            fresh = np.asarray(fresh, dtype=np.float64)
            agrees = True
            for block in blocks:
                columns = slice(block.start, block.stop)
                scale = max(float(np.abs(cached[:, columns]).max(initial=0.0)), 1e-30)
                if not np.allclose(fresh[:, columns], cached[:, columns], rtol=0, atol=1e-4 * scale, equal_nan=True):
                    agrees = False
                    break
        if not agrees:
            logger.warning("activation cache entry %s of %s disagrees with the network's own outputs on stimuli %s "
                           "(its forward computation changed although weights and modules did not); recomputing",
                           self.cache.entry_dir(key), self.identifier, [stimuli.ids[i] for i in rows])
        return agrees

    def _batches(self, stimuli: Stimuli):
        """Yield ``(start, pixels (B, 3, H, W))``, preparing the next batch in a thread while the model runs."""
        starts = range(0, len(stimuli), self.batch_size)

        def load(start: int) -> torch.Tensor:
            stop = min(start + self.batch_size, len(stimuli))
            decoder = self.preprocessing.decoder
            return torch.stack([self.preprocessing(stimuli.image(i, decoder)) for i in range(start, stop)])

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
        _check_layout_names(self.network, self.layer_layouts)
        recorder = _Recorder(self.network, list(dict.fromkeys(parse_layer(name)[0] for name in layers)),
                             self.layer_layouts)
        try:
            state = _NetworkState(self.network, self.device)
            state.enter()
            try:
                with torch.no_grad(), ieee_float32(self.device), \
                        concurrent.futures.ThreadPoolExecutor(max_workers=1) as writer, tqdm(
                        total=len(stimuli), desc=f"activations {self.identifier}", unit="img",
                        disable=not self.progress, leave=False) as bar:
                    run = _Run(self, recorder, layers, reduction, len(stimuli), building, writer)
                    pending: collections.deque = collections.deque()
                    for start, pixels in self._batches(stimuli):
                        batch = run.batch(start, pixels)
                        run.stage(batch)
                        pending.append((batch, writer.submit(run.write, batch)))
                        if len(pending) > 1:  # at most one batch waits to be written
                            run.finish(*pending.popleft())
                        bar.update(len(pixels))
                    while pending:
                        run.finish(*pending.popleft())
                    run.close()
            finally:
                state.restore()
        finally:
            recorder.remove()
            self.cloned_modules = set(recorder.clone)
        if building is None:
            return run.data, run.blocks
        return run.data, run.blocks, run.hasher.hexdigest()

    def _compute_cached(self, key: str, stimuli: Stimuli, layers: Sequence[str], reduction: Reduction):
        """Compute into a new cache entry and publish it (call while holding the key's lock). Caching is optional:
        when the disk is full (:class:`DiskFullError`, raised before the memory map is written, or while writing
        meta.json) the half-built entry is removed, a warning names the cache folder, and the result is computed
        (or kept) without the cache. Any other error, Ctrl-C or SIGTERM removes the half-built entry and propagates.
        """
        try:
            building = self.cache.new_entry(key)
        except DiskFullError as error:
            logger.warning("%s; computing the activations without caching them", error)
            return self._compute(stimuli, layers, reduction, building=None)
        try:
            # no msync: the rename publishes the page-cached file to every process at once, and an entry
            # damaged by a crash before the kernel writes it back fails its checksum and is recomputed
            data, blocks, checksum = self._compute(stimuli, layers, reduction, building=building)
        except DiskFullError as error:  # raised when the data file's space is reserved, before any row is computed
            shutil.rmtree(building, ignore_errors=True)
            logger.warning("%s; removed the partial entry, computing the activations without caching them", error)
            return self._compute(stimuli, layers, reduction, building=None)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
        meta = {"shape": list(data.shape), "checksum": checksum, "blocks": [b.__dict__ for b in blocks],
                "stimulus_ids": list(stimuli.ids), "identifier": self.identifier}
        try:
            self.cache.commit(key, building, meta)
        except DiskFullError as error:  # the rows are computed: keep them (the map outlives its removed file)
            shutil.rmtree(building, ignore_errors=True)
            logger.warning("%s; removed the partial entry, the activations are used without caching them", error)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
        return data, blocks

    def _allocate(self, n_rows: int, n_columns: int, building: Path | None) -> np.ndarray:
        """RAM for small results without cache; otherwise a memory map (the cache file itself when caching) whose
        disk space is reserved first, so that a full disk raises :class:`DiskFullError` here instead of killing the
        process with SIGBUS when a row is written. A full scratch disk falls back to RAM when the result fits in the
        available memory."""
        shape = (n_rows, n_columns)
        if building is not None:
            return _reserved_memmap(building / "data.npy", shape, self.cache.root)
        n_bytes = n_rows * n_columns * 4
        if n_bytes <= self.stream_threshold_bytes:
            return np.empty(shape, dtype=np.float32)
        scratch = cache_dir("scratch")
        try:
            scratch.mkdir(parents=True, exist_ok=True)
            sweep_once("scratch", scratch, lambda root: remove_stale_temps(atomic_temps(root, "scratch")))
            # hidden, held while it is reserved, then unlinked: the map stays valid, nothing is left on disk
            with tempfile.NamedTemporaryFile(dir=scratch, prefix=".scratch.", suffix=".tmp.npy") as handle, \
                    hold(handle.name):
                return _reserved_memmap(Path(handle.name), shape, scratch, remove=False)
        except OSError as error:
            if not isinstance(error, DiskFullError) and error.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            available = _available_memory()
            if available is not None and n_bytes > 0.8 * available:
                raise DiskFullError(f"no space left under {scratch} for the activations ({format_size(n_bytes)}), "
                                    f"and they do not fit in memory ({format_size(available)} available); free "
                                    "disk space or extract fewer layers or stimuli") from error
            logger.warning("no space left under %s; keeping the activations (%s) in memory instead", scratch,
                           format_size(n_bytes))
            return np.empty(shape, dtype=np.float32)


def _reserved_memmap(path: Path, shape: tuple[int, int], where: Path, remove: bool = True) -> np.ndarray:
    """A float32 ``.npy`` memory map of ``shape`` at ``path`` whose blocks are allocated on disk before any row is
    written. Raises :class:`DiskFullError` ("no space left under ``where``"), after removing the file when
    ``remove``, otherwise."""
    try:
        data = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=shape)
        fd = os.open(path, os.O_RDWR)
        try:
            reserve(fd, os.fstat(fd).st_size, where)
        finally:
            os.close(fd)
    except OSError as error:
        if remove:
            path.unlink(missing_ok=True)
        if isinstance(error, DiskFullError) or error.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise DiskFullError(f"no space left under {where}: the activations need "
                            f"{format_size(shape[0] * shape[1] * 4)}") from error
    return data


def _available_memory() -> int | None:
    """Bytes of memory available to new allocations (Linux ``MemAvailable``), or ``None`` when unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return None


def _check_layers(layers: Sequence[str]) -> list[str]:
    if isinstance(layers, str):
        layers = [layers]
    layers = list(layers)
    if not layers:
        raise ValueError("no layers requested")
    if len(set(layers)) != len(layers):
        raise ValueError(f"layers are listed more than once: {layers}")
    return layers


def _check_layout_names(network: torch.nn.Module, layouts: Mapping[str, LayerLayout]) -> None:
    """A declared layout must name a module: a misspelt name would otherwise be ignored."""
    named = dict(network.named_modules())
    for module in layouts:
        if module not in named:
            close = difflib.get_close_matches(module, [n for n in named if n], n=5, cutoff=0.4)
            raise ValueError(f"layer_layouts names {module!r}, which is not a module of {type(network).__name__}"
                             + (f"; close names: {', '.join(close)}" if close else ""))


def _layout(plans: Sequence[_Plan], features: Sequence[torch.Tensor]) -> list[LayerBlock]:
    blocks, start = [], 0
    for plan, reduced in zip(plans, features, strict=True):
        blocks.append(LayerBlock(plan.layer, plan.module, plan.step, plan.shape, start, start + reduced.shape[1]))
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
    return assembly  # the layer layout travels as the neuroid coordinates (layer, module, time_step), not as attrs


def layer_blocks(assembly) -> dict[str, np.ndarray]:
    """Split an extractor assembly into ``{layer: (n_stimuli, n_features) array}`` views, in layer order, read from
    its ``neuroid`` coordinate ``layer`` (a structure; each layer's neuroids are contiguous, as the extractor writes
    them). Raises ``ValueError`` naming the model for an assembly without a ``layer`` coordinate or with a layer
    split into several blocks."""
    import pandas as pd

    name = assembly.attrs.get("model_identifier", "") or "(unnamed)"
    index = assembly.indexes.get("neuroid") if hasattr(assembly, "indexes") else None
    if not isinstance(index, pd.MultiIndex) or "layer" not in index.names:
        raise ValueError(f"the activations of model {name} have no neuroid coordinate 'layer'; expected an extractor "
                         "assembly (model_registry.extract / RegisteredModel.activations)")
    level = index.names.index("layer")
    codes = np.asarray(index.codes[level])
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    stops = np.r_[starts[1:], len(codes)]
    order = [str(index.levels[level][codes[start]]) for start in starts]
    if len(set(order)) != len(order):
        raise ValueError(f"the activations of model {name} hold layer blocks that are not contiguous ({order}); "
                         "expected one block per layer")
    values = assembly.values
    return {layer: values[:, start:stop] for layer, start, stop in zip(order, starts, stops)}


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
