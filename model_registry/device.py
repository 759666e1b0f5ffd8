"""Device choice: CUDA when available, else CPU; ``REALNET_DEVICE`` or an explicit argument overrides."""
from __future__ import annotations

import os

import torch


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """The torch device to run on: ``device`` if given, else ``$REALNET_DEVICE``, else cuda if available, else cpu."""
    choice = device if device is not None else os.environ.get("REALNET_DEVICE")
    if choice is None or choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(choice)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {choice!r} was requested but CUDA is not available on this machine")
    return resolved
