"""Device choice: CUDA when available, else CPU; ``REALNET_DEVICE`` or an explicit argument overrides."""
from __future__ import annotations

import os

import torch


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """The torch device to run on: ``device`` if given, else ``$REALNET_DEVICE``, else cuda if available, else cpu.

    Raises ``ValueError`` (one line naming the value and the accepted forms) for anything but ``auto``, ``cpu``,
    ``cuda``, ``cuda:N`` or ``mps``, and ``RuntimeError`` for CUDA requested on a machine without it."""
    choice = device if device is not None else os.environ.get("REALNET_DEVICE")
    if choice is None or choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    source = "device" if device is not None else "$REALNET_DEVICE"
    try:
        resolved = torch.device(choice)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"{source} {choice!r} is not a torch device; use auto, cpu, cuda, cuda:N or mps") from None
    if resolved.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"{source} {choice!r}: only cpu, cuda, cuda:N, mps or auto are supported")
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {choice!r} was requested but CUDA is not available on this machine")
    return resolved
