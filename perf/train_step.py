"""ReAlnet training-step time against a plain CORnet-S fine-tuning step and the authors' two-pass formulation.

Every variant does forward, loss, backward and a fused Adam step on the same batch:
  plain:  CORnet-S logits -> cross-entropy (fine-tuning the backbone alone, 53.4 M parameters at 224 px)
  ours:   ReAlnet, ONE backbone pass gives logits and the V1..IT features for the EEG module -> full ReAlnet loss
  theirs: the authors' formulation: the backbone runs once for the logits and again through V1..IT for the
          features (written here only, to measure it) -> the same loss
Prints the median step time of each and the ratios ours/plain (target <= 1.15) and theirs/ours (~2 expected:
the convolutions dominate the step and run twice).

Then the same aligned / plain ratio for each other ``--backbones`` entry (default ``torchvision:resnet18``): plain =
the backbone's own classification step, aligned = ReAlnet on that backbone (hooks on its V1, V2, V4, IT layers, the
generation module after ``--reduce``, default ``pool`` to ``--reduce-dim`` 4096 features per layer; ``none`` keeps
full-size encoders: ResNet-18's conv1 at 224 px alone has 802,816 features).

Usage: python perf/train_step.py [--image-size 224] [--batch-size 16] [--steps 5] [--device cuda] [--amp]
       [--backbones torchvision:resnet18,resnet101] [--reduce pool|project|none] [--reduce-dim 4096]
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from model_registry.cornet import cornet_s_network
from model_registry.device import resolve_device
from model_registry.realnet import ReAlnet, ReAlnetConfig, head_name
from realnet_plugin.training.losses import realnet_loss


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
    times = []
    for _ in range(steps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        began = time.perf_counter()
        step(*batch)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - began)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per variant (after 2 warm-up steps)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds over the variants")
    parser.add_argument("--device", default=None)
    parser.add_argument("--amp", action="store_true", help="mixed precision (CUDA only)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--backbones", default="torchvision:resnet18",
                        help="other registered backbones to time, comma-separated ('' for none)")
    parser.add_argument("--reduce", choices=["none", "pool", "project"], default="pool",
                        help="reduction before the layer encoders of the other backbones (default pool)")
    parser.add_argument("--reduce-dim", type=int, default=4096)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if args.amp and device.type != "cuda":
        raise SystemExit("--amp needs a CUDA device")
    generator = torch.Generator().manual_seed(0)
    batch = (torch.randn(args.batch_size, 3, args.image_size, args.image_size, generator=generator).to(device),
             torch.randint(0, 1000, (args.batch_size,), generator=generator).to(device),
             torch.randn(args.batch_size, 340, generator=generator).to(device))
    variants = {}
    for kind in ("plain", "ours", "theirs"):
        step, model = make_step(kind, args.image_size, device, args.amp)
        time_steps(step, batch, 2, device)  # warm-up (allocations, kernel selection, optimizer state)
        variants[kind] = (step, model, [])
    for _ in range(args.rounds):
        for step, _, times in variants.values():
            times += time_steps(step, batch, args.steps, device)
    median = {kind: statistics.median(times) for kind, (_, _, times) in variants.items()}
    params = {kind: sum(p.numel() for p in model.parameters()) for kind, (_, model, _) in variants.items()}
    print(f"device {device}, {args.image_size} px, batch {args.batch_size}, amp {args.amp}, "
          f"{args.rounds} x {args.steps} steps per variant, median step time:")
    for kind, seconds in median.items():
        print(f"  {kind:6s} {seconds * 1000:9.1f} ms   ({params[kind] / 1e6:.1f} M parameters)")
    print(f"ours / plain  = {median['ours'] / median['plain']:.2f}   (target <= 1.15)")
    print(f"theirs / plain = {median['theirs'] / median['plain']:.2f}, theirs / ours = "
          f"{median['theirs'] / median['ours']:.2f}   (the authors' two passes)")
    for backbone in filter(None, (name.strip() for name in args.backbones.split(","))):
        steps = {}
        for aligned in (False, True):
            step, model = make_backbone_step(backbone, aligned, args.image_size, device, args.amp, args.reduce,
                                             args.reduce_dim)
            time_steps(step, batch, 2, device)
            steps[aligned] = (step, model, [])
        for _ in range(args.rounds):
            for step, _, times in steps.values():
                times += time_steps(step, batch, args.steps, device)
        plain, aligned = (statistics.median(steps[key][2]) for key in (False, True))
        n_plain, n_aligned = (sum(p.numel() for p in steps[key][1].parameters()) / 1e6 for key in (False, True))
        print(f"{backbone}: plain {plain * 1000:.1f} ms ({n_plain:.1f} M), aligned {aligned * 1000:.1f} ms "
              f"({n_aligned:.1f} M, reduce {args.reduce}); aligned / plain = {aligned / plain:.2f}   "
              "(target <= 1.15)")


if __name__ == "__main__":
    main()
