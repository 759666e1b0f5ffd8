"""ReAlnet training-step time against a plain CORnet-S fine-tuning step and the authors' two-pass formulation.

Every variant does forward, loss, backward and a fused Adam step on the same batch:
  plain:  CORnet-S logits -> cross-entropy (fine-tuning the backbone alone, 53.4 M parameters at 224 px)
  ours:   ReAlnet, ONE backbone pass gives logits and the V1..IT features for the EEG module -> full ReAlnet loss
  theirs: the authors' formulation: the backbone runs once for the logits and again through V1..IT for the
          features (written here only, to measure it) -> the same loss
Prints the median step time of each and the ratios ours/plain (target <= 1.15) and theirs/ours (~2 expected:
the convolutions dominate the step and run twice).

Usage: python perf/train_step.py [--image-size 224] [--batch-size 16] [--steps 5] [--device cuda] [--amp]
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


if __name__ == "__main__":
    main()
