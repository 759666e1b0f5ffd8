"""``realnet data synth NAME`` and ``realnet data fetch NAME``: generated datasets and downloads."""
from __future__ import annotations

import argparse
from pathlib import Path

from .arguments import check_output_path
from .registry import command

SYNTH_DATASETS = ("things-eeg2", "kriegeskorte2008", "shen2019", "things-fmri")
FETCH_DATASETS = ("kriegeskorte2008",)
# datasets whose files cannot be fetched here, and where they come from
MANUAL = {
    "things-eeg2": "THINGS-EEG2 (Gifford et al. 2022): download the preprocessed EEG (preprocessed_data/sub-XX/) and "
                   "image_set/ from the authors' public release (see the paper's data availability), then point "
                   "--option root=... or $REALNET_DATA_DIR/things-eeg2 at it; THINGS images may not be "
                   "redistributed, and no checksummed URL list is pinned here",
    "things-fmri": "THINGS-fMRI (Hebart et al. 2023): download betas_csv/ and the images from the THINGS initiative's "
                   "release, then point --option root=... at them",
    "shen2019": "Shen et al. 2019: the BData HDF5 files and ImageNet test images come from the authors' release "
                "(ImageNet images need their licence); point --option root=... at them",
}
FETCH_HELP = ("Download a dataset with public, checksummed files: " + ", ".join(FETCH_DATASETS)
              + " (Kriegeskorte et al. 2008, 92 images and human-IT RDMs, from the pinned rsatoolbox commit, every "
              "file checked against its sha256; an interrupted download resumes). Not fetchable here: "
              + "; ".join(MANUAL.values()) + ".")


@command("data")
def _add_data(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("data", help="generate or download datasets",
                            description="Generate datasets in their official formats, or download public ones.")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    synth = verbs.add_parser("synth", help="write a synthetic dataset in the official layout",
                             description="Write a synthetic dataset with planted structure in the official layout: "
                                         + ", ".join(SYNTH_DATASETS) + ".")
    synth.add_argument("name", choices=SYNTH_DATASETS, help="dataset to generate")
    synth.add_argument("--out", type=Path, required=True, help="output folder (created; must be empty)")
    synth.add_argument("--subjects", type=int, default=None,
                       help="number of subjects (default 2 for things-eeg2, 3 for the fMRI sets; kriegeskorte2008 "
                            "always has its 4)")
    synth.add_argument("--test-images", type=int, default=24, help="things-eeg2: test images (release: 200)")
    synth.add_argument("--train-concepts", type=int, default=8, help="things-eeg2: training concepts (release: 1654)")
    synth.add_argument("--train-per-concept", type=int, default=3,
                       help="things-eeg2: training images per concept (release: 10)")
    synth.add_argument("--test-repetitions", type=int, default=16, help="things-eeg2: test repetitions (release: 80)")
    synth.add_argument("--image-size", type=int, default=None,
                       help="image side in pixels (default 64 for things-eeg2, 32 otherwise)")
    synth.add_argument("--peak-time", type=float, default=0.15,
                       help="things-eeg2: planted peak of image information, seconds")
    synth.add_argument("--noise", type=float, default=None, help="standard deviation of the noise (generator default)")
    synth.add_argument("--seed", type=int, default=0, help="random seed")
    synth.add_argument("--full", action="store_true", help="things-eeg2: the release's sizes (overrides the sizes)")
    synth.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    synth.set_defaults(run=_run_synth)
    fetch = verbs.add_parser("fetch", help="download a public dataset (" + ", ".join(FETCH_DATASETS) + ")",
                             description=FETCH_HELP)
    fetch.add_argument("name", help="dataset to download: " + ", ".join(FETCH_DATASETS))
    fetch.add_argument("--out", type=Path, default=None,
                       help="target folder (default $REALNET_DATA_DIR/<name>, where the benchmarks look)")
    fetch.add_argument("--no-progress", action="store_true", help="no progress bar")
    fetch.set_defaults(run=_run_fetch)


def _prepare_out(out: Path, overwrite: bool) -> None:
    """Refuse a non-empty output folder unless ``overwrite`` (the generators other than THINGS-EEG2 write into it)."""
    import shutil

    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise ValueError(f"--out {out}: the folder is not empty; give a new folder or --overwrite")
        shutil.rmtree(out)


def _run_synth(args: argparse.Namespace) -> int:
    check_output_path(args.out, "--out", folder=True)
    for flag, value in (("--subjects", args.subjects), ("--image-size", args.image_size)):
        if value is not None and value < 1:
            raise ValueError(f"{flag} must be >= 1, got {value}")
    extra = {} if args.noise is None else {"noise": args.noise}
    size = {} if args.image_size is None else {"image_size": args.image_size}
    if args.name == "things-eeg2":
        from benchmarks.datasets.things_eeg2.synth import FULL_RELEASE, generate_things_eeg2

        sizes = dict(n_test_images=args.test_images, n_train_concepts=args.train_concepts,
                     n_train_per_concept=args.train_per_concept, n_test_repetitions=args.test_repetitions,
                     image_size=args.image_size or 64)
        if args.full:
            sizes = dict(FULL_RELEASE)
        subjects = args.subjects or 2
        if args.out.is_dir() and any(args.out.iterdir()) and not args.overwrite:  # the CLI's words, not the API's
            raise ValueError(f"--out {args.out}: the folder is not empty; give a new folder or --overwrite")
        out = generate_things_eeg2(args.out, n_subjects=subjects, peak_time=args.peak_time, seed=args.seed,
                                   overwrite=args.overwrite, **extra, **sizes)
        print(f"wrote synthetic {args.name} ({subjects} subjects) to {out}")
        return 0
    if args.subjects is not None and args.name == "kriegeskorte2008":
        raise ValueError("kriegeskorte2008 has 4 subjects x 2 sessions by design; drop --subjects")
    _prepare_out(args.out, args.overwrite)
    if args.name == "kriegeskorte2008":
        from benchmarks.datasets.kriegeskorte2008.synth import write_synthetic_kriegeskorte2008

        write_synthetic_kriegeskorte2008(args.out, seed=args.seed, **size, **extra)
        subjects = 4
    elif args.name == "shen2019":
        from benchmarks.datasets.shen2019.synth import write_synthetic_shen2019

        subjects = args.subjects or 3
        write_synthetic_shen2019(args.out, n_subjects=subjects, seed=args.seed, **size, **extra)
    else:
        from benchmarks.datasets.things_fmri.synth import write_synthetic_things_fmri

        subjects = args.subjects or 3
        write_synthetic_things_fmri(args.out, n_subjects=subjects, seed=args.seed, **size, **extra)
    print(f"wrote synthetic {args.name} ({subjects} subjects) to {args.out}")
    return 0


def _run_fetch(args: argparse.Namespace) -> int:
    if args.name in MANUAL:
        raise ValueError(f"{args.name} cannot be fetched here: {MANUAL[args.name]}")
    if args.name not in FETCH_DATASETS:
        raise ValueError(f"unknown dataset {args.name!r}; fetchable: {', '.join(FETCH_DATASETS)}; "
                         f"by hand: {', '.join(MANUAL)}")
    check_output_path(args.out, "--out", folder=True)
    from benchmarks.datasets.kriegeskorte2008.data import dataset_root, download_files

    files = download_files(args.out, progress=not args.no_progress)
    print(f"{args.name}: {len(files)} files checked (sha256) in {dataset_root(args.out)}")
    return 0
