"""Default layer lists and region commitments for generic (torchvision/timm) networks."""
from __future__ import annotations

import torch

from .registry import BRAIN_REGIONS

_ACTIVATION_ONLY = (torch.nn.Flatten, torch.nn.Dropout, torch.nn.Identity, torch.nn.ReLU, torch.nn.GELU,
                    torch.nn.SiLU, torch.nn.Hardswish)
_BLOCK_CONTAINERS = ("blocks", "layers", "stages", "features", "resblocks")


def _has_weights(module: torch.nn.Module) -> bool:
    return any(p.ndim >= 2 for p in module.parameters())


def top_level_layers(network: torch.nn.Module) -> tuple[str, ...]:
    """The network's direct children, with block containers (``blocks``, ``stages``, ModuleLists) expanded into
    their children; parameter-free activation/flatten/dropout modules are skipped."""
    layers = []
    for name, child in network.named_children():
        if isinstance(child, _ACTIVATION_ONLY):
            continue
        expand = isinstance(child, torch.nn.ModuleList) or (name in _BLOCK_CONTAINERS and len(child) > 1
                                                            if isinstance(child, torch.nn.Sequential) else False)
        if expand:
            layers.extend(f"{name}.{sub}" for sub, _ in child.named_children())
        else:
            layers.append(name)
    return tuple(layers)


def spread_regions(network: torch.nn.Module, layers: tuple[str, ...]) -> dict[str, str]:
    """Commit V1, V2, V4, IT to weighted layers spread evenly over all but the last (classifier) one."""
    modules = dict(network.named_modules())
    weighted = [layer for layer in layers if _has_weights(modules[layer])]
    body = weighted[:-1] if len(weighted) > len(BRAIN_REGIONS) else (weighted or list(layers))
    n = len(body)
    return {region: body[min(n - 1, max(0, int((i + 1) * n / len(BRAIN_REGIONS) + 0.5) - 1))]
            for i, region in enumerate(BRAIN_REGIONS)}


def channel_last_layouts(skeleton: torch.nn.Module, image_size: int) -> dict[str, str]:
    """``{module: 'NHWC'}`` for the modules of ``skeleton`` (on the meta device: shapes only, no arithmetic) whose
    4-D output on a square ``image_size`` input is channel-last, e.g. torchvision's / timm's Swin stages: output
    ``(N, H, W, C)`` with ``H == W != C``. Pooling reductions (``Reduction('avgpool')``) then pool over H and W
    instead of W and C. Outputs with ``H == W == C``, or a forward that cannot run on the meta device, are left
    undeclared (taken as ``(N, C, H, W)``)."""
    shapes: dict[str, tuple[int, ...]] = {}
    modules = dict(skeleton.named_modules())
    def record(layer: str):
        def hook(module, inputs, output) -> None:  # returns None: the output is left as it is
            if isinstance(output, torch.Tensor):
                shapes.setdefault(layer, tuple(output.shape))
        return hook

    handles = [modules[layer].register_forward_hook(record(layer)) for layer in modules if layer]
    try:
        with torch.no_grad():
            skeleton(torch.empty(2, 3, image_size, image_size, device="meta"))
    except Exception:  # noqa: BLE001 - any failure only means: nothing declared
        return {}
    finally:
        for handle in handles:
            handle.remove()
    return {layer: "NHWC" for layer, shape in shapes.items()
            if len(shape) == 4 and shape[1] == shape[2] != shape[3] and shape[2] != shape[3]}
