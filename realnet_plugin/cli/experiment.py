"""``realnet experiment alignment [--quick] [--json FILE]``: the command line of :mod:`realnet_plugin.experiment`."""
from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from realnet_plugin.experiment import FULL, QUICK, format_result, run_alignment
from realnet_plugin.experiment import __doc__ as EXPERIMENT_DOC

from .registry import command


@command("experiment")
def _add_experiment(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "experiment", help="controlled experiments on generated data (alignment: the EEG term's own effect)",
        description=EXPERIMENT_DOC, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=["alignment"], help="which experiment")
    parser.add_argument("--quick", action="store_true",
                        help="the reduced run (4 subjects, <= 20 minutes on 2 CPU cores) instead of the full one")
    parser.add_argument("--json", type=Path, default=None, help="write the result (effect_mean, p_value, "
                                                                "n_subjects, per-subject values, settings) here")
    parser.add_argument("--home", type=Path, default=None,
                        help="scratch REALNET_HOME (default: a new temporary folder); your models are not touched")
    parser.add_argument("--control", action="store_true",
                        help="the no-information control: EEG patterns independent of the images (expect no "
                             "effect)")
    parser.add_argument("--subjects", type=int, default=None, help="number of generated subjects (>= 3)")
    parser.add_argument("--seeds", default=None, help="training seeds, comma-separated (default 2023)")
    parser.add_argument("--betas", default=None, help="betas, comma-separated, must hold 0 and 100 (default 0,100)")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs per run")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    parser.set_defaults(run=_run_experiment)


def _run_experiment(args: argparse.Namespace) -> int:
    from realnet_plugin.training.plan import parse_betas

    settings = QUICK if args.quick else FULL
    changes: dict = {}
    if args.control:
        changes["signal"] = "random"
    if args.subjects is not None:
        changes["n_subjects"] = args.subjects
    if args.seeds is not None:
        try:
            changes["seeds"] = tuple(int(part) for part in args.seeds.split(","))
        except ValueError:
            raise ValueError(f"--seeds expects comma-separated integers, got {args.seeds!r}") from None
    if args.betas is not None:
        changes["betas"] = tuple(parse_betas(args.betas))
    if args.epochs is not None:
        changes["epochs"] = args.epochs
    settings = replace(settings, **changes)  # validated here, before anything is written
    from .arguments import check_output_path

    check_output_path(args.json, "--json")  # before the run: a folder, or a path nothing can be written at
    check_output_path(args.home, "--home", folder=True)
    result = run_alignment(settings, args.home, threads=args.threads)
    print(format_result(result))
    if args.json is not None:
        from model_registry.storage.atomic import atomic_path

        args.json.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps(result.to_json(), indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0
