"""The alignment experiment (``realnet experiment alignment``) at its ``--quick`` size, and its no-information
control, with wall-clock times: the numbers the README quotes.

Runs, one after another, each in its own scratch REALNET_HOME:
  images: EEG planted from the "brain" network's features (RandomConvFeatures seed 1, not the starting CORnet-S)
  random: the control, per-image patterns independent of the pixels (expected effect: none)
Prints per subject the similarity of the starting network, beta 0 and beta 100, the effect (beta 100 - beta 0),
the paired t-test, and the seconds spent generating, on EEG RDMs, training and scoring; writes both results as JSON
(``--out``). Not a pass/fail test: run it on an otherwise idle machine for timings that mean something.

Usage: python perf/experiment_alignment.py [--out perf-alignment.json] [--only images|random] [--threads 2]
"""
from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import tempfile
from dataclasses import replace
from pathlib import Path

from realnet_plugin.experiment import QUICK, format_result, run_alignment


def keep_freed_memory() -> None:
    """glibc: keep large freed blocks in the heap (CORnet-S's gradient buffers are otherwise returned to the OS
    and page-faulted back every step; ~40 % of a CPU step). Same tuning as the training tests."""
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(-4, 0)  # M_MMAP_MAX
        libc.mallopt(-1, 2**30)  # M_TRIM_THRESHOLD


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("perf-alignment.json"))
    parser.add_argument("--only", choices=["images", "random"], default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    keep_freed_memory()
    results = {}
    for signal in ("images", "random"):
        if args.only and signal != args.only:
            continue
        settings = replace(QUICK, signal=signal)
        print(f"=== {signal}: {settings}")
        result = run_alignment(settings, Path(tempfile.mkdtemp(prefix=f"alignment-{signal}-")), threads=args.threads)
        print(format_result(result))
        print("seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in result.seconds.items()))
        results[signal] = result.to_json()
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
