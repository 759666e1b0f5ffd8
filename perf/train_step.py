"""ReAlnet training-step time against a plain CORnet-S fine-tuning step and the authors' two-pass formulation.

Every variant does forward, loss, backward and a fused Adam step on the same batch:
  plain:  CORnet-S logits -> cross-entropy (fine-tuning the backbone alone, 53.4 M parameters at 224 px)
  ours:   ReAlnet, ONE backbone pass gives logits and the V1..IT features for the EEG module -> full ReAlnet loss
  theirs: the authors' formulation: the backbone runs once for the logits and again through V1..IT for the
          features (written here only, to measure it) -> the same loss
Prints the median step time of each and the ratios ours/plain (target <= 1.15) and theirs/ours (~2 expected:
the convolutions dominate the step and run twice).

Measurement: the variants run interleaved one step at a time (plain, ours, theirs, plain, ...), so load from other
processes falls on all of them alike; on the CPU the process CPU time of each step is reported beside the wall time
(the CPU-time ratio is the one to read on a shared machine: wall-clock ratios there swing from 1.0 to 1.6 between
runs of the same code). ``ops/step`` counts the computing aten operators one step dispatches (one extra step,
counted with a ``TorchDispatchMode``; views left out): where a step is launch-bound (a small network on a fast GPU)
the time ratio follows it.

Then the same aligned / plain ratio for each other ``--backbones`` entry (default ``torchvision:resnet18``): plain =
the backbone's own classification step, aligned = ReAlnet on that backbone (hooks on its V1, V2, V4, IT layers, the
generation module after ``--reduce``, default ``pool`` to ``--reduce-dim`` 4096 features per layer; ``none`` keeps
full-size encoders: ResNet-18's conv1 at 224 px alone has 802,816 features).

Usage: python perf/train_step.py [--image-size 224[,112,...]] [--batch-size 16] [--steps 5] [--device cuda] [--amp]
       [--backbones torchvision:resnet18,resnet101] [--reduce pool|project|none] [--reduce-dim 4096] [--no-cornet]
"""
from __future__ import annotations

import argparse
import collections
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from model_registry.cornet import cornet_s_network
from model_registry.device import resolve_device
from model_registry.realnet import ReAlnet, ReAlnetConfig, head_name


def _realnet_loss() -> Callable:
    """``realnet_plugin.training.losses.realnet_loss``. Importing ``realnet_plugin`` installs our ids into
    brainscore_vision, whose pinned stack (numpy<2, xarray<2022.6) a GPU machine's image lacks; the loss module needs
    only torch, so where brainscore_vision is missing it is loaded from its file alone."""
    try:
        from realnet_plugin.training.losses import realnet_loss
        return realnet_loss
    except ImportError as error:
        if "brainscore" not in str(error) and "xarray" not in str(error) and "brainio" not in str(error):
            raise
    path = Path(__file__).resolve().parents[1] / "realnet_plugin" / "training" / "losses.py"
    spec = importlib.util.spec_from_file_location("_realnet_losses", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module.realnet_loss


realnet_loss = _realnet_loss()


def two_pass_forward(model: ReAlnet, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The authors' forward: ``realnet(images)`` for the logits, then V1..IT again for the EEG module's input."""
    logits = model.realnet(images)
    codes, x = [], images
    for name, stage in model.realnet.named_children():
        if name not in model.config.layers:
            break
        x = stage(x)
        codes.append(model.activation(getattr(model, head_name(name))(x.flatten(1))))
    return logits, model.fc(torch.cat(codes, dim=1))


def make_step(kind: str, image_size: int, device: torch.device, amp: bool) -> tuple[Callable, nn.Module]:
    torch.manual_seed(0)
    if kind == "plain":
        model = cornet_s_network().to(device)
    else:
        model = ReAlnet(ReAlnetConfig(image_size=image_size)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-5, fused=True)
    scaler = torch.amp.GradScaler(device.type, enabled=amp)

    def step(images: torch.Tensor, labels: torch.Tensor, eeg: torch.Tensor) -> None:
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp):
            if kind == "plain":
                loss = nn.functional.cross_entropy(model(images).float(), labels)
            else:
                logits, pred = model(images) if kind == "ours" else two_pass_forward(model, images)
                loss = realnet_loss(logits, labels, pred, eeg, beta=100.0).total
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    return step, model


def make_backbone_step(backbone: str, aligned: bool, image_size: int, device: torch.device, amp: bool,
                       reduce: str, reduce_dim: int) -> tuple[Callable, nn.Module]:
    """A training step of the registered ``backbone`` alone (cross-entropy on its output) or of the ReAlnet on it
    (one pass, the full ReAlnet loss)."""
    from model_registry.realnet import probe_feature_sizes
    from model_registry.registry import get_spec
    from realnet_plugin.training.trainer import default_layers

    torch.manual_seed(0)
    network = get_spec(backbone).builder(False)
    if aligned:
        layers = default_layers(backbone)
        config = ReAlnetConfig(image_size=image_size, layers=layers, backbone=backbone,
                               feature_sizes=probe_feature_sizes(network, layers, image_size, backbone),
                               reduce=reduce, reduce_dim=reduce_dim if reduce != "none" else 0)
        model = ReAlnet(config, backbone=network).to(device)
    else:
        model = network.to(device)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-5, fused=True)
    scaler = torch.amp.GradScaler(device.type, enabled=amp)

    def step(images: torch.Tensor, labels: torch.Tensor, eeg: torch.Tensor) -> None:
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp):
            if aligned:
                logits, pred = model(images)
                loss = realnet_loss(logits, labels, pred, eeg, beta=100.0).total
            else:
                loss = nn.functional.cross_entropy(model(images).float(), labels)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    return step, model


def time_steps(step: Callable, batch: tuple, steps: int, device: torch.device) -> list[float]:
    """Wall seconds of each of ``steps`` calls of ``step(*batch)`` (synchronised on CUDA)."""
    return [seconds for seconds, _ in _timed(step, batch, steps, device)]


def _timed(step: Callable, batch: tuple, steps: int, device: torch.device) -> list[tuple[float, float]]:
    """(wall seconds, process CPU seconds) of each of ``steps`` calls of ``step(*batch)``."""
    times = []
    for _ in range(steps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        began, cpu = time.perf_counter(), time.process_time()
        step(*batch)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - began, time.process_time() - cpu))
    return times


class _CountOps(TorchDispatchMode):
    """Counts the aten operators dispatched inside the ``with`` block that compute (views such as ``t``,
    ``view``, ``expand``, ``detach`` launch no kernel and are left out)."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += not func.is_view
        return func(*args, **(kwargs or {}))


def ops_per_step(step: Callable, batch: tuple) -> int:
    """Computing aten operators one call of ``step(*batch)`` dispatches (forward, loss, backward, optimizer step):
    about the kernels it launches on a GPU."""
    with _CountOps() as counter:
        step(*batch)
    return counter.count


def interleaved(steps: dict[str, Callable], batch: tuple, n_steps: int, rounds: int,
                device: torch.device) -> dict[str, dict]:
    """Warm each step up (2 calls), then ``rounds x n_steps`` calls of every step in turn (one step of each before
    the next of any). Returns per name: median ``wall`` and ``cpu`` seconds and ``ops`` per step."""
    for step in steps.values():
        _timed(step, batch, 2, device)  # warm-up (allocations, kernel selection, optimizer state)
    samples: dict[str, list] = collections.defaultdict(list)
    for _ in range(rounds * n_steps):
        for name, step in steps.items():
            samples[name] += _timed(step, batch, 1, device)
    return {name: {"wall": statistics.median(t for t, _ in samples[name]),
                   "cpu": statistics.median(c for _, c in samples[name]),
                   "ops": ops_per_step(steps[name], batch)} for name in steps}


def _ratio(results: dict, a: str, b: str, device: torch.device) -> str:
    text = f"{a} / {b} = {results[a]['wall'] / results[b]['wall']:.2f} wall"
    if device.type == "cpu":
        text += f", {results[a]['cpu'] / results[b]['cpu']:.2f} CPU time"
    return text + f", {results[a]['ops'] / results[b]['ops']:.2f} ops"


def _line(name: str, result: dict, params: float, device: torch.device) -> str:
    cpu = f"  cpu {result['cpu'] * 1000:8.1f} ms" if device.type == "cpu" else ""
    return (f"  {name:36s} wall {result['wall'] * 1000:8.1f} ms{cpu}  {result['ops']:5d} ops/step  "
            f"({params / 1e6:.1f} M parameters)")


def run_size(args: argparse.Namespace, image_size: int, device: torch.device) -> None:
    """Time the CORnet-S variants (unless ``--no-cornet``) and each ``--backbones`` entry at ``image_size``."""
    generator = torch.Generator().manual_seed(0)
    batch = (torch.randn(args.batch_size, 3, image_size, image_size, generator=generator).to(device),
             torch.randint(0, 1000, (args.batch_size,), generator=generator).to(device),
             torch.randn(args.batch_size, 340, generator=generator).to(device))
    print(f"device {device}, {image_size} px, batch {args.batch_size}, amp {args.amp}, threads "
          f"{torch.get_num_threads()}, {args.rounds} x {args.steps} interleaved steps per variant, median step time:")
    if args.cornet:
        made = {kind: make_step(kind, image_size, device, args.amp) for kind in ("plain", "ours", "theirs")}
        results = interleaved({kind: step for kind, (step, _) in made.items()}, batch, args.steps, args.rounds,
                              device)
        for kind, (_, model) in made.items():
            print(_line(f"cornet_s {kind}", results[kind], sum(p.numel() for p in model.parameters()), device))
        print(f"  {_ratio(results, 'ours', 'plain', device)}   (target <= 1.15)")
        print(f"  {_ratio(results, 'theirs', 'ours', device)}   (the authors' two passes)")
        del made
    for backbone in filter(None, (name.strip() for name in args.backbones.split(","))):
        made = {kind: make_backbone_step(backbone, kind == "aligned", image_size, device, args.amp, args.reduce,
                                         args.reduce_dim) for kind in ("plain", "aligned")}
        results = interleaved({kind: step for kind, (step, _) in made.items()}, batch, args.steps, args.rounds,
                              device)
        for kind, (_, model) in made.items():
            label = f"{backbone} {kind}" + (f" (reduce {args.reduce})" if kind == "aligned" else "")
            print(_line(label, results[kind], sum(p.numel() for p in model.parameters()), device))
        print(f"  {backbone}: {_ratio(results, 'aligned', 'plain', device)}   (target <= 1.15)")
        del made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-size", default="224", help="image side(s) in pixels, comma-separated (224,112)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per variant and round (after 2 warm-up)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of interleaved steps over the variants")
    parser.add_argument("--device", default=None)
    parser.add_argument("--amp", action="store_true", help="mixed precision (CUDA only)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--backbones", default="torchvision:resnet18",
                        help="other registered backbones to time, comma-separated ('' for none)")
    parser.add_argument("--reduce", choices=["none", "pool", "project"], default="pool",
                        help="reduction before the layer encoders of the other backbones (default pool)")
    parser.add_argument("--reduce-dim", type=int, default=4096)
    parser.add_argument("--no-cornet", dest="cornet", action="store_false",
                        help="skip the CORnet-S variants (time only --backbones)")
    args = parser.parse_args()
    try:
        sizes = [int(size) for size in args.image_size.split(",") if size.strip()]
    except ValueError:
        raise SystemExit(f"--image-size takes comma-separated integers, got {args.image_size!r}") from None
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if args.amp and device.type != "cuda":
        raise SystemExit("--amp needs a CUDA device")
    for image_size in sizes:
        run_size(args, image_size, device)


if __name__ == "__main__":
    main()
