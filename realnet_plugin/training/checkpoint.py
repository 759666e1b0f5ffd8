"""Training checkpoints: model, optimizer, grad-scaler and RNG states, epoch, config and log, written atomically.

A checkpoint is a ``torch.save`` of plain containers and tensors only, read back with ``weights_only=True`` (no
arbitrary unpickling). It carries a format tag and version; :func:`load_checkpoint` rejects unreadable files
(truncated, corrupt) and files that are not ReAlnet training checkpoints, and :func:`check_compatible` rejects a
checkpoint of another run (different subject, beta, data, teacher ...), naming the fields that differ.

Writes are atomic: on a full disk, an error, Ctrl-C or SIGTERM the temporary file is removed and the previous
checkpoint stays intact; a full disk is reported as "no space left writing checkpoint <file>" (not torch's
``enforce fail at inline_container.cc`` text). Temporary files of a run killed outright are removed by the next run
that reads or writes a checkpoint in the same folder.
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from model_registry.storage.atomic import atomic_path
from model_registry.storage.cleanup import (
    DiskFullError,
    atomic_temps,
    format_size,
    free_bytes,
    is_disk_full,
    remove_stale_temps,
)

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
    path = Path(path)
    remove_stale_temps(atomic_temps(path.parent) if path.parent.is_dir() else [])
    written = 0
    try:
        with atomic_path(path) as tmp:
            try:
                torch.save(content, tmp)
            finally:
                written = tmp.stat().st_size if tmp.exists() else 0
    except (OSError, RuntimeError) as error:
        if isinstance(error, DiskFullError) or not _write_failed(error, path.parent):
            raise
        free = free_bytes(path.parent)
        previous = f"the previous checkpoint {path.name} is intact" if path.exists() else "no partial file is left"
        raise DiskFullError(f"no space left writing checkpoint {path} ({format_size(written)} written, "
                            f"{format_size(free or 0)} free under {path.parent}); {previous}") from None


def _write_failed(error: BaseException, folder: Path) -> bool:
    """Whether ``error`` from ``torch.save`` means the disk was full. torch reports a failed write as
    ``[enforce fail at inline_container.cc:...] ... file write failed`` / ``unexpected pos`` without the cause; it
    is taken as a full disk when the folder's file system has (almost) no space left after the partial write."""
    if is_disk_full(error):
        return True
    text = str(error)
    if "inline_container" not in text and "file write failed" not in text and "unexpected pos" not in text:
        return False
    free = free_bytes(folder)
    return free is not None and free < (64 << 20)


def load_checkpoint(path: Path) -> dict:
    """Read and validate a checkpoint (``weights_only``); :class:`CheckpointError` names the file and the problem."""
    path = Path(path)
    remove_stale_temps(atomic_temps(path.parent) if path.parent.is_dir() else [])
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
