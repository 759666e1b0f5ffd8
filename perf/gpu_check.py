"""The CUDA paths in one short run: decoding, extraction (with and without autocast), a ReAlnet training step.

Meant for a machine with a GPU (a few minutes on one modern GPU); ``--device cpu --quick`` exercises every path
on the CPU with reduced sizes so the script itself stays tested. Prints, per stage, times and ratios:

  decoding-svm, one subject (200 images x 80 repetitions x 17 channels x 100 times by default), torch backend on
      the device; estimate for 10 subjects (target <= 60 s); agreement with the numba CPU backend on a slice of
      pairs replayed with the same plan (mean / max |delta accuracy|; both solve the same SVM with n_iter steps)
  extraction of CORnet-S (random weights, every recurrent step of V1..IT) vs a bare no_grad forward on the same
      batches (target <= 1.05), a bare autocast (float16) forward for reference, and the largest relative difference
      of the extracted features between the device and the CPU (target <= 1e-4) and between float16 autocast and
      float32 (reported, not a target)
  a ReAlnet training step with AMP vs a plain CORnet-S step (target <= 1.15): ``perf/train_step.py --amp``

Usage: python perf/gpu_check.py [--device cuda] [--quick] [--images 64] [--pairs 2000]
"""
from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def decoding_stage(device: torch.device, n_images: int, n_pairs_check: int) -> None:
    from benchmarks.rsa.decoding import svm_decoding_rdms
    from benchmarks.rsa.decoding_plan import draw_plan

    rng = np.random.default_rng(0)
    signal = rng.normal(size=(n_images, 1, 17, 1)) * np.hanning(100)[None, None, None, :]
    data = signal + rng.normal(size=(n_images, 80, 17, 100))  # (images, repetitions, channels, times)
    synchronize(device)
    began = time.perf_counter()
    accuracies = svm_decoding_rdms(data, backend="torch", device=device)
    synchronize(device)
    seconds = time.perf_counter() - began
    print(f"decoding-svm torch-{device.type}: {n_images} images, {accuracies.shape[1]} pairs x 100 times: "
          f"{seconds:.1f} s; 10 subjects ~ {10 * seconds:.0f} s (target <= 60 s on one GPU)")
    from benchmarks.rsa.decoding import lda_decoding_rdms

    synchronize(device)
    began = time.perf_counter()
    lda_decoding_rdms(data, backend="torch", device=device)
    synchronize(device)
    print(f"decoding-lda torch-{device.type}: {time.perf_counter() - began:.1f} s per subject")
    n_check = min(n_pairs_check, accuracies.shape[1])
    plan = draw_plan(n_images, 80, 100, pair_slice=slice(0, n_check))
    on_device = svm_decoding_rdms(data, plan=plan, backend="torch", device=device)
    on_cpu = svm_decoding_rdms(data, plan=plan, backend="numba")
    delta = np.abs(on_device - on_cpu)
    print(f"  torch-{device.type} vs numba CPU on {n_check} pairs, same plan: mean |delta| {delta.mean():.5f}, "
          f"max {delta.max():.4f} (accuracies in [0, 1])")


def extraction_stage(device: torch.device, n_images: int, batch_size: int) -> None:
    from model_registry import ActivationsExtractor, Preprocessing
    from model_registry.cornet import cornet_s_network

    torch.manual_seed(0)
    network = cornet_s_network().eval()
    layers = ["V1", "V2", "V4", "IT"]
    preprocessing = Preprocessing(224, "resize")
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (256, 256, 3), dtype=np.uint8) for _ in range(n_images)]
    from PIL import Image

    pil = [Image.fromarray(image) for image in images]

    from model_registry.device import ieee_float32

    def bare(autocast: bool, tf32: bool = False) -> float:
        # the extractor runs float32 as IEEE float32 (no TF32), so the bare forward does too unless tf32
        began = time.perf_counter()
        batches = [torch.stack([preprocessing(p) for p in pil[i:i + batch_size]])
                   for i in range(0, n_images, batch_size)]
        precision = contextlib.nullcontext() if tf32 else ieee_float32(device)
        with torch.no_grad(), precision, torch.autocast(device.type, dtype=torch.float16, enabled=autocast):
            for batch in batches:
                network(batch.to(device, non_blocking=True))
        synchronize(device)
        return time.perf_counter() - began

    # The assembly wrap needs brainscore_core's pinned stack (numpy<2, xarray<2022.6), which a GPU machine's image
    # lacks; there the extractor's array path (everything but the final wrap, whose cost does not depend on the
    # device) is timed instead.
    try:
        import brainscore_core  # noqa: F401
        wrap = True
    except ImportError:
        wrap = False
    if not wrap:
        from model_registry.reduction import Reduction
        from model_registry.stimuli import as_stimuli

        stimuli = as_stimuli(pil)
        print("  (brainscore_core missing: timing the extractor without the final assembly wrap)")

    def ours(on: torch.device):
        began = time.perf_counter()
        extractor = ActivationsExtractor(network, preprocessing, batch_size=batch_size, progress=False, cache=False,
                                         device=on)
        if wrap:
            values = np.asarray(extractor(pil, layers).values)
        else:
            values, _ = extractor._compute(stimuli, layers, Reduction(), building=None)
        synchronize(on)
        return time.perf_counter() - began, np.asarray(values)

    import model_registry.extractor as extractor_module

    network.to(device)
    bare(False)  # warm-up
    timings = [(bare(False), ours(device)[0]) for _ in range(3)]
    bare_seconds, ours_seconds = min(t[0] for t in timings), min(t[1] for t in timings)
    _, on_device = ours(device)
    if device.type == "cuda":  # the overlapped copies (off by default until this comparison has passed on a GPU)
        extractor_module.STAGE_CUDA_COPIES = True
        try:
            staged_seconds = min(ours(device)[0] for _ in range(3))
            _, staged = ours(device)
        finally:
            extractor_module.STAGE_CUDA_COPIES = False
        print(f"  overlapped copies (STAGE_CUDA_COPIES): ours {staged_seconds:.2f} s, ratio ours/bare = "
              f"{staged_seconds / bare_seconds:.3f}; values equal to the synchronous copy: "
              f"{np.array_equal(staged, on_device)} (must be True before it is switched on)")
    half_seconds = min(bare(device.type == "cuda") for _ in range(2))
    tf32_seconds = min(bare(False, tf32=True) for _ in range(2))
    print(f"extraction cornet_s, {n_images} images, batch {batch_size}, on {device}: bare {bare_seconds:.2f} s, "
          f"ours {ours_seconds:.2f} s, ratio ours/bare = {ours_seconds / bare_seconds:.3f} (target <= 1.05); "
          f"bare autocast fp16 {half_seconds:.2f} s, bare with TF32 {tf32_seconds:.2f} s")
    network.to("cpu")
    _, on_cpu = ours(torch.device("cpu"))
    scale = np.abs(on_cpu).max()
    print(f"  features {device.type} vs cpu: max |delta| / max |value| = {np.abs(on_device - on_cpu).max() / scale:.2e}"
          " (target <= 1e-4)")
    if device.type == "cuda":
        network.to(device)
        with torch.autocast("cuda", dtype=torch.float16):
            _, half = ours(device)
        print(f"  features autocast fp16 vs fp32: max |delta| / max |value| = "
              f"{np.abs(half - on_device).max() / scale:.2e} (reported only)")


def training_stage(device: torch.device, quick: bool) -> None:
    script = Path(__file__).with_name("train_step.py")
    # CORnet-S only: the other backbones' aligned step needs realnet_plugin's trainer, which a GPU image without
    # brainscore's pinned stack cannot import (perf/train_step.py times them on the CPU)
    command = [sys.executable, str(script), "--device", str(device), "--backbones", ""]
    if device.type == "cuda":
        command.append("--amp")
    if quick:
        command += ["--image-size", "64", "--batch-size", "4", "--steps", "1", "--rounds", "1"]
    print("training step:", " ".join(command[1:]), flush=True)
    subprocess.run(command, check=True)
    if device.type == "cuda":  # a GPU is launch-bound at batch 16; the ratio at a batch that fills it more
        print("training step, batch 64:", flush=True)
        subprocess.run(command + ["--batch-size", "64", "--steps", "3"], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="reduced sizes (for a CPU dry run)")
    parser.add_argument("--images", type=int, default=256, help="images for the extraction stage")
    parser.add_argument("--pairs", type=int, default=2000, help="pairs replayed on the CPU for the agreement check")
    parser.add_argument("--stages", default="decoding,extraction,training")
    args = parser.parse_args()
    os.environ.setdefault("REALNET_HOME", tempfile.mkdtemp(prefix="realnet-gpu-check-"))
    from model_registry.device import resolve_device

    device = resolve_device(args.device)
    stages = set(args.stages.split(","))
    print(f"device {device}" + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
          + f", torch {torch.__version__}, {torch.get_num_threads()} CPU threads", flush=True)
    runs = {"decoding": lambda: decoding_stage(device, 8 if args.quick else 200, 10 if args.quick else args.pairs),
            "extraction": lambda: extraction_stage(device, 4 if args.quick else args.images, 2 if args.quick else 16),
            "training": lambda: training_stage(device, args.quick)}
    failed = []
    for name, run in runs.items():
        if name not in stages:
            continue
        try:  # one failing stage must not cost the others their (rare) GPU time
            run()
        except Exception:  # noqa: BLE001 (reported below, and the exit status says so)
            traceback.print_exc()
            failed.append(name)
        sys.stdout.flush()
    if failed:
        raise SystemExit(f"gpu_check: stage(s) failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
