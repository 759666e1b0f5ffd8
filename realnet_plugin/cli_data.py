"""``realnet data synth NAME`` and ``realnet data fetch NAME``: generated datasets and downloads."""
from __future__ import annotations

import argparse
from pathlib import Path

from .cli import command

SYNTH_DATASETS = ("things-eeg2",)


@command("data")
def _add_data(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("data", help="generate or download datasets",
                            description="Generate datasets in their official formats, or download public ones.")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    synth = verbs.add_parser("synth", help="write a synthetic dataset in the official layout",
                             description="Write a synthetic dataset with planted structure in the official layout.")
    synth.add_argument("name", choices=SYNTH_DATASETS, help="dataset to generate")
    synth.add_argument("--out", type=Path, required=True, help="output folder (created; must be empty)")
    synth.add_argument("--subjects", type=int, default=2, help="number of subjects (default 2)")
    synth.add_argument("--test-images", type=int, default=24, help="test images (release: 200)")
    synth.add_argument("--train-concepts", type=int, default=8, help="training concepts (release: 1654)")
    synth.add_argument("--train-per-concept", type=int, default=3, help="training images per concept (release: 10)")
    synth.add_argument("--test-repetitions", type=int, default=16, help="test repetitions (release: 80)")
    synth.add_argument("--image-size", type=int, default=64, help="image side in pixels (release: 500)")
    synth.add_argument("--peak-time", type=float, default=0.15, help="planted peak of image information, seconds")
    synth.add_argument("--noise", type=float, default=1.0, help="standard deviation of per-trial noise")
    synth.add_argument("--seed", type=int, default=0, help="random seed")
    synth.add_argument("--full", action="store_true", help="the release's sizes (overrides the size options)")
    synth.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    synth.set_defaults(run=_run_synth)


def _run_synth(args: argparse.Namespace) -> int:
    from benchmarks.things_eeg_rsa.synth import FULL_RELEASE, generate_things_eeg2

    sizes = dict(n_test_images=args.test_images, n_train_concepts=args.train_concepts,
                 n_train_per_concept=args.train_per_concept, n_test_repetitions=args.test_repetitions,
                 image_size=args.image_size)
    if args.full:
        sizes = dict(FULL_RELEASE)
    out = generate_things_eeg2(args.out, n_subjects=args.subjects, peak_time=args.peak_time, noise=args.noise,
                               seed=args.seed, overwrite=args.overwrite, **sizes)
    print(f"wrote synthetic {args.name} ({args.subjects} subjects) to {out}")
    return 0
