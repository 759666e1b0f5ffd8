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


def meta_output_shapes(skeleton: torch.nn.Module, image_size: int) -> dict[str, tuple[int, ...]] | None:
    """``{module: output shape}`` of every module of ``skeleton`` (on the meta device: shapes only, no arithmetic)
    that runs in an eval-mode forward pass of two square ``image_size`` images (tensor outputs only); ``None`` when
    the forward cannot run on the meta device."""
    shapes: dict[str, tuple[int, ...]] = {}
    modules = dict(skeleton.named_modules())

    def record(layer: str):
        def hook(module, inputs, output) -> None:  # returns None: the output is left as it is
            shapes.setdefault(layer, tuple(output.shape) if isinstance(output, torch.Tensor) else ())
        return hook

    handles = [modules[layer].register_forward_hook(record(layer)) for layer in modules if layer]
    training = skeleton.training
    try:
        skeleton.eval()
        with torch.no_grad():
            skeleton(torch.empty(2, 3, image_size, image_size, device="meta"))
    except Exception:  # noqa: BLE001 - any failure only means: shapes unknown
        return None
    finally:
        skeleton.train(training)
        for handle in handles:
            handle.remove()
    return shapes


def channel_last_layouts(shapes: dict[str, tuple[int, ...]] | None) -> dict[str, str]:
    """``{module: 'NHWC'}`` for the modules whose 4-D output (from :func:`meta_output_shapes`) is channel-last,
    e.g. torchvision's / timm's Swin stages: ``(N, H, W, C)`` with ``H == W != C``. Pooling reductions
    (``Reduction('avgpool')``) then pool over H and W instead of W and C. Outputs with ``H == W == C``, or unknown
    shapes, are left undeclared (taken as ``(N, C, H, W)``)."""
    return {layer: "NHWC" for layer, shape in (shapes or {}).items()
            if len(shape) == 4 and shape[1] == shape[2] != shape[3]}


def called_layers(layers: tuple[str, ...], shapes: dict[str, tuple[int, ...]] | None) -> tuple[str, ...]:
    """``layers`` without the modules an eval-mode forward never calls (e.g. GoogLeNet's auxiliary classifiers
    ``aux1`` / ``aux2``, which run only in training), so that default layers can all be read; all of them when the
    shapes are unknown."""
    if not shapes:
        return layers
    return tuple(layer for layer in layers if layer in shapes)
