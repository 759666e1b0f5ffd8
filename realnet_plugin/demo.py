"""``realnet demo``: the offline main job on the embedded default.

Until the EEG pipeline lands in the demo, it lists the registered models and scores the one network whose trained
weights ship offline (``efficientnet_lite0``) against a random initialisation of the same architecture on
``fgsm-robustness`` over built-in photos, in a scratch ``REALNET_HOME`` so a user's caches stay untouched.
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from .cli import command


@command("demo")
def _add_demo(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("demo", help="run the offline demo", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, default=None,
                        help="scratch REALNET_HOME for the demo (default: a new temporary folder)")
    parser.set_defaults(run=_run_demo)


def run_demo(home: Path | None = None) -> dict[str, float]:
    """Run the demo; returns ``{model label: score}``."""
    home = Path(home) if home is not None else Path(tempfile.mkdtemp(prefix="realnet-demo-"))
    os.environ["REALNET_HOME"] = str(home)
    from realnet_plugin import list_benchmarks, list_models, load_model, score

    print(f"registered models: {', '.join(list_models())}")
    print("open families: torchvision:<name>, timm:<name>, realnet_sXX_bYY")
    print(f"benchmarks: {', '.join(list_benchmarks())}")
    results = {}
    for label, pretrained in (("efficientnet_lite0 (ImageNet weights)", True),
                              ("efficientnet_lite0 (random init)", False)):
        result = score(load_model("efficientnet_lite0", pretrained=pretrained), "fgsm-robustness", images="builtin")
        accuracies = ", ".join(f"{a:.2f}" for a in result.attrs["accuracies"])
        print(f"{label:40s} fgsm-robustness {float(result):.3f}   accuracy at eps 0..8/255: {accuracies}")
        results[label] = float(result)
    print(f"demo home (caches): {home}")
    return results


def _run_demo(args: argparse.Namespace) -> int:
    run_demo(args.home)
    return 0
