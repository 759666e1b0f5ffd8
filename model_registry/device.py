"""Device choice: CUDA when available, else CPU; ``REALNET_DEVICE`` or an explicit argument overrides."""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

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


@contextlib.contextmanager
def ieee_float32(device: torch.device) -> Iterator[None]:
    """Within the block, float32 convolutions and matrix products on CUDA run in IEEE float32, not TF32.

    PyTorch lets cuDNN convolutions use TF32 by default (10-bit mantissa): CORnet-S features on an H200 then differed
    from the CPU's by ~1e-3 of their scale (perf/gpu_check.py). Features are data a score is computed from, so the
    extractor asks for float32 as written; an explicit ``torch.autocast`` around the call still runs in half
    precision. The process-wide settings are put back on exit. No effect for other devices.
    """
    if device.type != "cuda":
        yield
        return
    settings = [torch.backends.cudnn.conv, torch.backends.cudnn.rnn, torch.backends.cuda.matmul]  # torch >= 2.9
    saved = [setting.fp32_precision for setting in settings]
    try:
        for setting in settings:
            setting.fp32_precision = "ieee"
        yield
    finally:
        for setting, value in zip(settings, saved, strict=True):
            setting.fp32_precision = value
