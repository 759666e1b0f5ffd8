"""Optional per-layer reductions applied inside the extraction loop to bound memory."""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Reduction:
    """How each layer output ``(B, C, H, W)`` or ``(B, ...)`` becomes a feature matrix ``(B, n_features)``.

    - ``none``: flatten everything (channel-major, as ``tensor.flatten(1)``).
    - ``avgpool`` / ``maxpool``: adaptive spatial pooling of 4-D outputs to ``size x size`` (other ranks flatten).
    - ``project``: fixed-seed count-sketch random projection to ``dim`` features (each input feature is added, with
      a random sign, to one random output feature), which preserves inner products in expectation and needs only
      O(n_features) memory per layer.
    """

    kind: str = "none"
    size: int = 1
    dim: int = 4096
    seed: int = 0

    def __post_init__(self):
        if self.kind not in ("none", "avgpool", "maxpool", "project"):
            raise ValueError(f"reduction kind must be none, avgpool, maxpool or project, got {self.kind!r}")
        if self.size < 1 or self.dim < 1:
            raise ValueError(f"reduction size and dim must be >= 1, got size={self.size}, dim={self.dim}")

    def descriptor(self) -> str:
        if self.kind == "none":
            return "none"
        if self.kind == "project":
            return f"project(dim={self.dim},seed={self.seed})"
        return f"{self.kind}(size={self.size})"

    def apply(self, output: torch.Tensor, layer: str, axes: str | None = None) -> torch.Tensor:
        """Reduce one layer's batch output to ``(B, n_features)``.

        ``axes``: the output's declared layout with the images first (e.g. ``'NHWC'`` for a channel-last
        transformer stage, from ``layer_layouts``); pooling then runs over its ``H`` and ``W`` axes. Undeclared 4-D
        outputs are taken as ``(B, C, H, W)``."""
        if self.kind in ("avgpool", "maxpool") and output.ndim == 4:
            if axes is not None and set("CHW") <= set(axes) and len(axes) == 4:
                output = output.permute(*(axes.index(a) for a in "NCHW"))
            pool = F.adaptive_avg_pool2d if self.kind == "avgpool" else F.adaptive_max_pool2d
            output = pool(output, self.size)
        flat = output.reshape(output.shape[0], -1)  # as flatten(1); a 1-D (B,) output is one feature per image
        if self.kind != "project" or flat.shape[1] <= self.dim:
            return flat
        buckets, signs = _sketch(flat.shape[1], self.dim, self.seed, layer, flat.device)
        projected = torch.zeros(flat.shape[0], self.dim, dtype=flat.dtype, device=flat.device)
        return projected.index_add_(1, buckets, flat * signs)


_SKETCHES: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def _sketch(n_in: int, dim: int, seed: int, layer: str, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    key = (n_in, dim, seed, layer, str(device))
    if key not in _SKETCHES:
        generator = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(layer.encode()))
        buckets = torch.randint(0, dim, (n_in,), generator=generator)
        signs = torch.randint(0, 2, (n_in,), generator=generator).float() * 2 - 1
        _SKETCHES[key] = (buckets.to(device), signs.to(device))
    return _SKETCHES[key]
