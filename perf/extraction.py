"""Extraction speed against the references, run side by side on the same images and layers.

Prints three ratios (lower is better for the first two):
  ours / bare ``torch.no_grad()`` forward over the same preprocessed batches    (target <= 1.05)
  ours / Brain-Score ``PytorchWrapper`` (its extractor, result caching disabled)
  first extraction / second (served from our cache)                           (target >= 50)

Usage: python perf/extraction.py [--images 64] [--model resnet101] [--batch-size 16]
(``--model torchvision:alexnet`` reads outputs that an in-place ReLU rewrites: the cost of copying them shows there.)
"""
from __future__ import annotations

import argparse
import functools
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def make_images(folder: Path, n: int) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        path = folder / f"img_{i:04d}.jpg"
        Image.fromarray(rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--model", default="resnet101")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="alternating timing rounds; the minimum counts")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="realnet-perf-"))
    os.environ["REALNET_HOME"] = str(workdir / "home")
    os.environ["RESULTCACHING_DISABLE"] = "1"

    from brainscore_vision.model_helpers.activations.pytorch import PytorchWrapper, load_preprocess_images

    from model_registry import ActivationsExtractor, Preprocessing, get_spec

    spec = get_spec(args.model)
    network = spec.build(pretrained=False)
    layers = list(spec.layers)
    paths = make_images(workdir, args.images)
    preprocessing = Preprocessing(224, "resize")  # Brain-Score's default preprocessing, so all three agree

    def bare_forward() -> float:  # preprocessing included, done up front, then plain no_grad forwards
        began = time.perf_counter()
        batches = [torch.stack([preprocessing(Image.open(p)) for p in paths[i:i + args.batch_size]])
                   for i in range(0, len(paths), args.batch_size)]
        with torch.no_grad():
            for batch in batches:
                network(batch)
        return time.perf_counter() - began

    copied: set[str] = set()

    def ours_uncached() -> float:
        began = time.perf_counter()
        extractor = ActivationsExtractor(network, preprocessing, batch_size=args.batch_size, progress=False,
                                         cache=False)
        extractor(paths, layers)
        copied.update(extractor.cloned_modules)  # outputs rewritten in place later, so copied at hook time
        return time.perf_counter() - began

    with torch.no_grad():  # warm-up: first forwards pay for allocator and kernel set-up
        network(torch.zeros(args.batch_size, 3, 224, 224))
    rounds = [(bare_forward(), ours_uncached()) for _ in range(args.rounds)]  # alternate to share machine noise
    bare = min(r[0] for r in rounds)
    uncached = min(r[1] for r in rounds)

    extractor = ActivationsExtractor(network, preprocessing, batch_size=args.batch_size, progress=False,
                                     identifier="perf")
    start = time.perf_counter()
    extractor(paths, layers)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    extractor(paths, layers)
    cached = time.perf_counter() - start

    wrapper = PytorchWrapper(model=network, identifier=f"perf-{time.time()}",
                             preprocessing=functools.partial(load_preprocess_images, image_size=224),
                             batch_size=args.batch_size)
    start = time.perf_counter()
    wrapper.from_paths([str(p) for p in paths], layers=layers)
    brainscore = time.perf_counter() - start

    print(f"{args.model}, {args.images} images, batch {args.batch_size}, layers {layers}, "
          f"{torch.get_num_threads()} threads")
    print(f"bare forward            {bare:8.2f} s   (best of {args.rounds})")
    print(f"ours, no cache          {uncached:8.2f} s   ratio ours/bare        = {uncached / bare:.3f}  "
          "(target <= 1.05)")
    print(f"outputs copied at hook time (rewritten in place later): {sorted(copied) or 'none'}")
    print(f"ours, writing the cache {ours:8.2f} s   ratio ours/bare        = {ours / bare:.3f}")
    print(f"Brain-Score wrapper     {brainscore:8.2f} s   ratio ours/brainscore  = {ours / brainscore:.3f}")
    print(f"ours, from cache        {cached:8.3f} s   speed-up first/cached  = {ours / cached:.1f}x (target >= 50)")


if __name__ == "__main__":
    main()
