"""Training checkpoints: model, optimizer, grad-scaler and RNG states, epoch, config and log, written atomically.

A checkpoint is a ``torch.save`` of plain containers and tensors only, read back with ``weights_only=True`` (no
arbitrary unpickling). It carries a format tag and version; :func:`load_checkpoint` rejects unreadable files
(truncated, corrupt) and files that are not ReAlnet training checkpoints, and :func:`check_compatible` rejects a
checkpoint of another run (different subject, beta, data, teacher ...), naming the fields that differ.
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from model_registry.atomic import atomic_path

CHECKPOINT_FORMAT = "realnet-train-checkpoint"
CHECKPOINT_VERSION = 1
CHECKPOINT_KEYS = ("format", "version", "epoch", "config", "model", "optimizer", "scaler", "rng", "log", "best",
                   "fingerprints")


class CheckpointError(ValueError):
    """A checkpoint cannot be read, is not a ReAlnet training checkpoint, or belongs to another run."""


def rng_state() -> dict:
    """torch (CPU and every CUDA device), numpy and python RNG states, as tensors and plain values."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": list(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() else [],
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "position": int(position),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": random.getstate(),
    }


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` saved."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    numpy_state = state["numpy"]
    np.random.set_state((numpy_state["kind"], numpy_state["keys"].numpy().astype(np.uint32),
                         numpy_state["position"], numpy_state["has_gauss"], numpy_state["cached_gaussian"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


def save_checkpoint(path: Path, payload: dict) -> None:
    """Write ``payload`` (see ``CHECKPOINT_KEYS``; format and version are added) atomically to ``path``."""
    content = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **payload}
    missing = [key for key in CHECKPOINT_KEYS if key not in content]
    if missing:
        raise ValueError(f"checkpoint payload lacks {missing}")
    with atomic_path(path) as tmp:
        torch.save(content, tmp)


def load_checkpoint(path: Path) -> dict:
    """Read and validate a checkpoint (``weights_only``); :class:`CheckpointError` names the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint to resume from: {path} does not exist")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated, corrupt, or holding objects weights_only refuses
        reason = str(error).splitlines()[0] if str(error) else ""
        raise CheckpointError(f"checkpoint {path} is corrupt or unreadable ({type(error).__name__}: {reason}); "
                              "delete it to start over") from error
    if not isinstance(content, dict) or content.get("format") != CHECKPOINT_FORMAT:
        found = sorted(content)[:8] if isinstance(content, dict) else type(content).__name__
        raise CheckpointError(f"{path} is not a ReAlnet training checkpoint (expected format tag "
                              f"{CHECKPOINT_FORMAT!r}; found {found})")
    if content.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"checkpoint {path} has version {content.get('version')}; this code reads version "
                              f"{CHECKPOINT_VERSION}")
    missing = [key for key in CHECKPOINT_KEYS if key not in content]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks {missing}")
    return content


def check_compatible(path: Path, content: dict, config: dict, fingerprints: dict,
                     may_differ: tuple[str, ...] = ()) -> None:
    """Raise :class:`CheckpointError` unless ``content`` was written by a run with this ``config`` and
    ``fingerprints`` (keys in ``may_differ`` excepted)."""
    differences = []
    for label, stored, current in (("config", content["config"], config),
                                   ("fingerprint", content["fingerprints"], fingerprints)):
        for key in sorted(set(stored) | set(current)):
            if key in may_differ:
                continue
            if stored.get(key) != current.get(key):
                differences.append(f"{label} {key}: checkpoint {stored.get(key)!r}, this run {current.get(key)!r}")
    if differences:
        shown = "; ".join(differences[:6]) + (" ..." if len(differences) > 6 else "")
        raise CheckpointError(f"checkpoint {path} belongs to another run ({shown}); use another --out folder or "
                              "the matching options")
