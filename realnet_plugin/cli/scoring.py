"""``realnet score MODEL BENCHMARK``: one score, printed as a table, optionally written as JSON / netCDF / CSV."""
from __future__ import annotations

import argparse
from pathlib import Path

from .arguments import check_output_path, parse_options
from .registry import command


@command("score")
def _add_score(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("score", help="score a model on a benchmark",
                            description="Score a registered model on a benchmark and print the result as a table.")
    parser.add_argument("model", help="model id, e.g. cornet_s, realnet_s01_b100, timm:resnet50")
    parser.add_argument("benchmark", help="benchmark id, e.g. things-eeg-rsa, kriegeskorte2008-hit-rsa")
    parser.add_argument("--random-weights", action="store_true",
                        help="build the model without its trained weights (a random-initialisation baseline, "
                             "seeded by --seed)")
    parser.add_argument("--seed", type=int, default=0,
                        help="torch seed the model is built under (default 0, as the leaderboard): the same seed "
                             "gives the same random initialisation, score and cache entry")
    parser.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per forward pass (default 32)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="benchmark option, repeatable; values are parsed as JSON when possible")
    parser.add_argument("--json", type=Path, help="also write the score and its attributes to this JSON file")
    parser.add_argument("--netcdf", type=Path, help="also write the score with its raw data to this netCDF file")
    parser.add_argument("--csv", type=Path, help="also write the score as a long table (model, benchmark, subject, "
                        "layer, time, roi, value) to this CSV file")
    parser.set_defaults(run=_run_score)


def _run_score(args: argparse.Namespace) -> int:
    from realnet_plugin.api import score
    from realnet_plugin.results import score_summary, write_csv, write_json, write_netcdf

    options = parse_options(args.option)
    check_output_path(args.json, "--json")
    check_output_path(args.netcdf, "--netcdf")
    check_output_path(args.csv, "--csv")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    result = score(args.model, args.benchmark, model_options={
        "pretrained": not args.random_weights, "device": args.device, "batch_size": args.batch_size,
        "seed": args.seed}, **options)
    print(score_summary(result))
    if args.json:
        write_json(result, args.json)
        print(f"wrote {args.json}")
    if args.netcdf:
        write_netcdf(result, args.netcdf)
        print(f"wrote {args.netcdf}")
    if args.csv:
        write_csv(result, args.csv)
        print(f"wrote {args.csv}")
    return 0
