"""RDMs as a model: a model computed elsewhere (another lab, another framework) scored by its RDMs alone.

An :class:`RdmModel` holds one RDM per "layer" over named stimuli. The RSA benchmarks ask it, through
:func:`benchmarks.model_features.candidate_rdms`, for its RDMs in the benchmark's own stimulus order: every
benchmark stimulus id must be among the model's ids (else one error naming the missing ids), ids the benchmark does
not use are refused too unless ``extra_ids='drop'`` (then those rows and columns are left out), and the RDMs are
reordered by id. No model runs. The reverse direction, a benchmark's neural RDMs as rsatoolbox ``RDMs``, is
:func:`neural_rdms`.

>>> model = RdmModel.from_rsatoolbox(rdms)            # pattern descriptor 'stimulus_id', rdm descriptor 'layer'
>>> model = RdmModel.from_arrays({'IT': square_rdm}, stimulus_ids=ids)
>>> realnet_plugin.score(model, 'kriegeskorte2008-hit-rsa')  # or score(rdms, ...) directly
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .rsa.rdm import pair_indices

SYMMETRY_ATOL = 1e-8  # relative to the largest |dissimilarity|
EXTRA_IDS = ("error", "drop")


@dataclass(frozen=True)
class RdmModel:
    """Named RDMs over named stimuli, usable wherever a model is scored by RSA.

    ``rdms``: ``{layer: (n_stimuli, n_stimuli) float64}`` symmetric with a zero diagonal, rows in
    ``stimulus_ids`` order; ``provenance``: free-form facts about where the RDMs come from (source, measure),
    copied onto the Score (``attrs['model_provenance']``). ``extra_ids``: ``'error'`` (default) refuses a model
    with stimuli the benchmark does not use, ``'drop'`` leaves them out.
    """

    identifier: str
    rdms: Mapping[str, np.ndarray]
    stimulus_ids: tuple[str, ...]
    provenance: Mapping[str, object] = field(default_factory=dict)
    extra_ids: str = "error"

    def __post_init__(self):
        ids = tuple(str(i) for i in self.stimulus_ids)
        object.__setattr__(self, "stimulus_ids", ids)
        if self.extra_ids not in EXTRA_IDS:
            raise ValueError(f"extra_ids must be one of {EXTRA_IDS}, got {self.extra_ids!r}")
        if len(ids) < 3:
            raise ValueError(f"RDM model {self.identifier}: {len(ids)} stimulus ids; an RDM comparison needs >= 3")
        repeated = sorted({i for i in ids if ids.count(i) > 1}) if len(set(ids)) != len(ids) else []
        if repeated:
            raise ValueError(f"RDM model {self.identifier}: stimulus ids must be unique; repeated: {repeated[:5]}")
        if not self.rdms:
            raise ValueError(f"RDM model {self.identifier}: no RDMs given")
        checked = {str(layer): _square(self.identifier, str(layer), rdm, len(ids)) for layer, rdm in self.rdms.items()}
        object.__setattr__(self, "rdms", checked)
        object.__setattr__(self, "provenance", {**dict(self.provenance), "kind": "rdms",
                                                "content_sha256": self.content_hash()})

    # --- construction --------------------------------------------------------------------------------------
    @classmethod
    def from_arrays(cls, rdms: Mapping[str, np.ndarray] | np.ndarray, stimulus_ids: Sequence[str], *,
                    identifier: str | None = None, layers: Sequence[str] | None = None,
                    provenance: Mapping[str, object] | None = None, extra_ids: str = "error") -> RdmModel:
        """From ``{layer: (n, n) or condensed (n*(n-1)/2,) array}`` (or one array ``(n_layers, n, n)`` /
        ``(n, n)`` with ``layers`` naming them) whose rows follow ``stimulus_ids``.

        Raises ``ValueError`` naming the layer for a non-square, asymmetric, non-finite RDM or one whose size does
        not match the ids, and for repeated ids.
        """
        if not isinstance(rdms, Mapping):
            stack = np.asarray(rdms, dtype=np.float64)
            stack = stack[None] if stack.ndim == 2 and stack.shape[0] == stack.shape[1] else stack
            stack = stack[None] if stack.ndim == 1 else stack
            names = list(layers) if layers is not None else [f"rdm{i}" for i in range(len(stack))]
            if len(names) != len(stack):
                raise ValueError(f"layers names {len(names)} RDMs, the array holds {len(stack)}")
            rdms = dict(zip(names, stack))
        name = identifier or f"rdms:{_short_hash(rdms, stimulus_ids)}"
        return cls(name, dict(rdms), tuple(stimulus_ids), dict(provenance or {}), extra_ids)

    @classmethod
    def from_rsatoolbox(cls, rdms, *, identifier: str | None = None, pattern_descriptor: str = "stimulus_id",
                        rdm_descriptor: str = "layer", provenance: Mapping[str, object] | None = None,
                        extra_ids: str = "error") -> RdmModel:
        """From an ``rsatoolbox.rdm.RDMs``: stimulus ids from ``pattern_descriptors[pattern_descriptor]``, one
        layer per RDM named by ``rdm_descriptors[rdm_descriptor]`` (a single RDM without it is named
        ``'rdm'``). Raises ``ValueError`` listing the descriptors present when one is missing or names repeat."""
        patterns = dict(getattr(rdms, "pattern_descriptors", {}) or {})
        if pattern_descriptor not in patterns:
            raise ValueError(f"the RDMs have no pattern descriptor {pattern_descriptor!r} with the stimulus ids "
                             f"(found: {sorted(patterns)}); pass pattern_descriptor='<name>'")
        matrices = np.asarray(rdms.get_matrices(), dtype=np.float64)  # (n_rdms, n, n)
        descriptors = dict(getattr(rdms, "rdm_descriptors", {}) or {})
        if rdm_descriptor in descriptors:
            names = [str(v) for v in descriptors[rdm_descriptor]]
        elif len(matrices) == 1:
            names = ["rdm"]
        else:
            raise ValueError(f"the RDMs hold {len(matrices)} RDMs but no rdm descriptor {rdm_descriptor!r} naming "
                             f"them (found: {sorted(descriptors)}); pass rdm_descriptor='<name>'")
        if len(set(names)) != len(names):
            raise ValueError(f"rdm descriptor {rdm_descriptor!r} repeats names: {names}")
        facts = {"source": "rsatoolbox.rdm.RDMs", "dissimilarity_measure": str(rdms.dissimilarity_measure),
                 **dict(provenance or {})}
        return cls.from_arrays(dict(zip(names, matrices)), list(patterns[pattern_descriptor]),
                               identifier=identifier, provenance=facts, extra_ids=extra_ids)

    # --- use -----------------------------------------------------------------------------------------------
    @property
    def layers(self) -> tuple[str, ...]:
        """The RDMs' names, the default "layers" a benchmark scores."""
        return tuple(self.rdms)

    def content_hash(self) -> str:
        """sha256 over the ids and the RDM values (the model's identity for result caches)."""
        return _digest(self.rdms, self.stimulus_ids)

    def rdms_for(self, stimulus_ids: Sequence[str], layers: Sequence[str] | None = None,
                 benchmark: str = "the benchmark") -> np.ndarray:
        """Condensed RDMs ``(n_layers, n_pairs)`` over ``stimulus_ids`` in that order (scipy ``squareform``
        order). Raises ``ValueError`` naming missing (and, unless ``extra_ids='drop'``, extra) ids, or unknown
        layers, before anything is computed."""
        wanted = [str(i) for i in stimulus_ids]
        layers = list(layers or self.layers)
        unknown = [layer for layer in layers if layer not in self.rdms]
        if unknown:
            raise ValueError(f"RDM model {self.identifier} has no RDM {unknown[0]!r}; it has {list(self.layers)}")
        position = {sid: i for i, sid in enumerate(self.stimulus_ids)}
        missing = [sid for sid in wanted if sid not in position]
        extra = sorted(set(self.stimulus_ids) - set(wanted))
        if missing or (extra and self.extra_ids == "error"):
            parts = []
            if missing:
                parts.append(f"{len(missing)} of {benchmark}'s {len(wanted)} stimulus ids are missing (first: "
                             f"{missing[:5]})")
            if extra and self.extra_ids == "error":
                parts.append(f"{len(extra)} ids are not {benchmark}'s (first: {extra[:5]}; pass extra_ids='drop' to "
                             "leave them out)")
            raise ValueError(f"RDM model {self.identifier}: " + "; ".join(parts) + f"; expected RDMs over exactly "
                             f"{benchmark}'s stimulus ids (e.g. {wanted[:3]})")
        order = np.array([position[sid] for sid in wanted])
        rows, cols = pair_indices(len(order))
        return np.stack([self.rdms[layer][np.ix_(order, order)][rows, cols] for layer in layers])


def _square(identifier: str, layer: str, rdm, n: int) -> np.ndarray:
    values = np.asarray(rdm, dtype=np.float64)
    where = f"RDM model {identifier} layer {layer!r}"
    if values.ndim == 1:
        if len(values) != n * (n - 1) // 2:
            raise ValueError(f"{where}: condensed RDM of {len(values)} values; {n} stimulus ids need "
                             f"{n * (n - 1) // 2}")
        rows, cols = pair_indices(n)
        square = np.zeros((n, n))
        square[rows, cols] = values
        square[cols, rows] = values
        values = square
    if values.shape != (n, n):
        raise ValueError(f"{where}: RDM of shape {values.shape}; expected ({n}, {n}) for {n} stimulus ids")
    if not np.isfinite(values).all():
        raise ValueError(f"{where}: {int((~np.isfinite(values)).sum())} entries are not finite")
    scale = max(float(np.abs(values).max()), 1e-300)
    if np.abs(values - values.T).max() > SYMMETRY_ATOL * scale:
        asymmetry = np.abs(values - values.T).max()
        raise ValueError(f"{where}: the RDM is not symmetric (max |d_ij - d_ji| = {asymmetry:.3g})")
    if np.abs(np.diag(values)).max() > SYMMETRY_ATOL * scale:
        raise ValueError(f"{where}: the RDM's diagonal is not zero (max {np.abs(np.diag(values)).max():.3g}); "
                         "expected dissimilarities")
    return values


def _digest(rdms: Mapping[str, np.ndarray], ids: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for sid in ids:
        digest.update(str(sid).encode() + b"\0")
    for layer, rdm in rdms.items():
        digest.update(str(layer).encode() + b"\0")
        digest.update(np.ascontiguousarray(np.asarray(rdm, dtype=np.float64)).tobytes())
    return digest.hexdigest()


def _short_hash(rdms, ids) -> str:
    return _digest({k: np.asarray(v, dtype=np.float64) for k, v in rdms.items()}, ids)[:12]


def is_rsatoolbox_rdms(value) -> bool:
    """Whether ``value`` is an ``rsatoolbox.rdm.RDMs`` (checked without importing rsatoolbox when it is absent)."""
    cls = type(value)
    return cls.__name__ == "RDMs" and cls.__module__.startswith("rsatoolbox")


def neural_rdms(benchmark):
    """A benchmark's neural RDMs as one ``rsatoolbox.rdm.RDMs`` with descriptors, for work in rsatoolbox.

    ROI benchmarks (:class:`~benchmarks.roi_rsa.RoiRsaBenchmark`): one RDM per (ROI, subject), rdm descriptors
    ``roi`` and ``subject``; the THINGS-EEG benchmark: one per (subject, time), descriptors ``subject`` and
    ``time`` (s). Pattern descriptor ``stimulus_id`` in the benchmark's stimulus order; the measure names the
    dataset's dissimilarity. Raises ``TypeError`` for another benchmark.
    """
    from .roi_rsa import RoiRsaBenchmark
    from .rsa.rsatoolbox_io import to_rsatoolbox
    from .things_eeg_rsa.benchmark import ThingsEEGRsaBenchmark

    if isinstance(benchmark, RoiRsaBenchmark):
        data = benchmark.validate()
        rois = list(data.rois)
        stack = np.concatenate([data.rdms[roi] for roi in rois])  # (n_rois * n_subjects, n_pairs)
        return to_rsatoolbox(stack, measure="1 - Pearson (voxel patterns)", rdm_descriptors={
            "roi": [roi for roi in rois for _ in data.subjects],
            "subject": [str(s) for _ in rois for s in data.subjects]},
            pattern_descriptors={"stimulus_id": list(data.stimuli.ids)})
    if isinstance(benchmark, ThingsEEGRsaBenchmark):
        subjects, rdms, times = benchmark.eeg()  # rdms: (n_subjects, n_times, n_pairs)
        rdms = np.asarray(rdms)
        ids = list(benchmark.stimuli.ids)  # the order the benchmark read with its EEG (not a second reading)
        return to_rsatoolbox(rdms.reshape(-1, rdms.shape[-1]), measure=str(getattr(benchmark, "method", "eeg")),
                             rdm_descriptors={"subject": [int(s) for s in subjects for _ in times],
                                              "time": [float(t) for _ in subjects for t in times]},
                             pattern_descriptors={"stimulus_id": ids})
    raise TypeError(f"neural_rdms() knows ROI RSA and THINGS-EEG RSA benchmarks, not {type(benchmark).__name__}")
