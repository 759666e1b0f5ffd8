"""``realnet paper``: the paper's evaluation end to end (EEG time courses, improvement and ratio with clusters,
fMRI ROI comparison, robustness curves, results table and figures) in one resumable folder."""
from __future__ import annotations

import argparse
from pathlib import Path

from .arguments import parse_options
from .registry import command


@command("paper")
def _add_paper(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "paper", help="the paper's evaluation end to end into one folder (resumable)",
        description="Score the ReAlnet family (each model against its own subject) and the baselines on "
                    "things-eeg-rsa, compare each family with each baseline (improvement, ratio, paired clusters), "
                    "optionally the fMRI ROI comparison and robustness curves; write results.csv/.md, "
                    "improvement.csv/.md, figures (PNG + PDF) and manifest.json to --out. Parts already written "
                    "with the same inputs are not recomputed.")
    parser.add_argument("--data", type=Path, required=True, help="THINGS-EEG2 folder")
    parser.add_argument("--fmri", nargs=2, metavar=("KIND", "DIR"), help="things-fmri DIR or shen2019 DIR")
    parser.add_argument("--models", action="append", default=None,
                        help="ReAlnet family (wildcard or comma-separated ids), repeatable (default realnet_s*_b100)")
    parser.add_argument("--baselines", default="cornet_s,resnet101,clip_rn101", help="comma-separated model ids")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--method", default=None, help="RDM method: things-eeg-rsa-METHOD (e.g. decoding-svm, "
                                                        "correlation); default the benchmark's own")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="things-eeg-rsa option, repeatable (e.g. cluster_window=[-0.1,0.49], "
                             "min_cluster_length=2, ceiling=false)")
    parser.add_argument("--fmri-option", action="append", default=[], metavar="KEY=VALUE",
                        help="option of the fMRI ROI benchmark, repeatable (e.g. n_bootstrap=0)")
    parser.add_argument("--robustness", action="store_true", help="add the fgsm / pgd robustness curves")
    parser.add_argument("--robustness-option", action="append", default=[], metavar="KEY=VALUE",
                        help="option of the robustness benchmarks, repeatable")
    parser.add_argument("--random-weights", action="store_true",
                        help="build the baselines without trained weights (ReAlnets keep theirs)")
    parser.add_argument("--n-permutations", type=int, default=1000, help="cluster test permutations (default 1000)")
    parser.add_argument("--n-bootstrap", type=int, default=1000, help="bootstrap resamples of subjects (0: none)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the permutations and the bootstrap")
    parser.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS|local[:N]",
                        help="compute the EEG RDMs first, one task per subject, on this Dask scheduler "
                             "(tcp://host:8786) or on a local cluster of N worker processes (default 2)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per forward pass (default 32)")
    parser.set_defaults(run=_run_paper)


def _run_paper(args: argparse.Namespace) -> int:
    from realnet_plugin.paper import run_paper

    from .arguments import check_output_path

    check_output_path(args.out, "--out", folder=True)
    run = run_paper(args.data, args.out, models=args.models or ["realnet_s*_b100"], baselines=args.baselines,
                    method=args.method, options=parse_options(args.option),
                    fmri=tuple(args.fmri) if args.fmri else None, fmri_options=parse_options(args.fmri_option),
                    robustness=args.robustness,
                    robustness_options=parse_options(args.robustness_option), random_weights=args.random_weights,
                    device=args.device, batch_size=args.batch_size, n_permutations=args.n_permutations,
                    n_bootstrap=args.n_bootstrap, seed=args.seed, scheduler=args.scheduler)
    print(f"wrote {run.out}: {len(run.computed)} part(s) computed, "
          f"{len(run.reused)} reused")
    return 0
