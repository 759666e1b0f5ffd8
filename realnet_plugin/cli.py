"""The ``realnet`` command line: ``list``, ``score``, ``data`` (and the verbs later issues add)."""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

COMMANDS: dict[str, Callable[[argparse._SubParsersAction], None]] = {}


def command(name: str):
    """Register a function that adds the subcommand ``name`` to the parser."""

    def decorate(add: Callable[[argparse._SubParsersAction], None]):
        COMMANDS[name] = add
        return add

    return decorate


@command("list")
def _add_list(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("list", help="list registered models or benchmarks",
                            description="List registered model or benchmark ids matching a shell wildcard.")
    parser.add_argument("what", choices=["models", "benchmarks"], help="which registry to list")
    parser.add_argument("pattern", nargs="?", default="*",
                        help="shell wildcard, comma-separated for several (e.g. 'clip*', 'timm:resnet*')")
    parser.add_argument("--details", action="store_true", help="also print family, layers and weights URL")
    parser.set_defaults(run=_run_list)


def _run_list(args: argparse.Namespace) -> int:
    from realnet_plugin import list_benchmarks, list_models

    if args.what == "benchmarks":
        for identifier in list_benchmarks(args.pattern):
            print(identifier)
        return 0
    from model_registry import get_spec

    for identifier in list_models(args.pattern):
        if not args.details:
            print(identifier)
            continue
        spec = get_spec(identifier)
        print(f"{identifier:24s} {spec.family:12s} layers={','.join(spec.layers)} weights={spec.weights_url}")
    return 0


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


def _parse_options(pairs: Sequence[str]) -> dict:
    """``['window=[0,0.5]', 'root=/data']`` -> ``{'window': [0, 0.5], 'root': '/data'}`` (JSON values where they
    parse, else the text). Raises ``ValueError`` for a pair without ``=``, an empty key or a key given twice."""
    options = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        key = key.strip()
        if not separator or not key:
            raise ValueError(f"--option expects KEY=VALUE (e.g. --option window=[0,0.5]), got {pair!r}")
        if key in options:
            raise ValueError(f"--option {key} is given twice ({options[key]!r} and {value!r}); give it once")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def check_output_path(path: str | os.PathLike | None, flag: str, *, folder: bool = False,
                      must_not_exist: bool = False) -> None:
    """Raise ``ValueError`` (one line naming ``flag``, the path and the cause) when ``path`` cannot be written:
    an ancestor that is a file, an existing path of the wrong kind (a folder for a file output or the reverse),
    an existing path where ``must_not_exist``, or a closest existing folder without write permission.
    ``None`` (option not given) passes. Run before any heavy work, so a bad path fails at once."""
    if path is None:
        return
    path = Path(path).expanduser()
    if path.exists():
        if must_not_exist:
            raise ValueError(f"{flag} {path}: it already exists; give a new {'folder' if folder else 'file'}")
        if folder and not path.is_dir():
            raise ValueError(f"{flag} {path}: it is a file; expected a folder")
        if not folder and path.is_dir():
            raise ValueError(f"{flag} {path}: it is a folder; expected a file name")
    for ancestor in (path.absolute().parent, *path.absolute().parent.parents):
        if ancestor.exists():
            if not ancestor.is_dir():
                raise ValueError(f"{flag} {path}: {ancestor} is a file, not a folder")
            if not os.access(ancestor, os.W_OK | os.X_OK):
                raise ValueError(f"{flag} {path}: cannot write under {ancestor} (permission denied)")
            return
        if ancestor.is_symlink():  # a dangling link where a folder should be
            raise ValueError(f"{flag} {path}: {ancestor} is a broken link, not a folder")


def _run_score(args: argparse.Namespace) -> int:
    from realnet_plugin import score
    from realnet_plugin.results import score_summary, write_csv, write_json, write_netcdf

    options = _parse_options(args.option)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="realnet", description="Human-brain alignment for vision models: ReAlnet, model registry, benchmarks.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS.values():
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``realnet`` console script."""
    import realnet_plugin.cli_cross_temporal  # noqa: F401 (registers cross-temporal)
    from model_registry.cleanup import sigterm_as_interrupt
    from realnet_plugin import (  # noqa: F401 (register them)
        cli_cache,
        cli_data,
        cli_experiment,
        cli_leaderboard,
        cli_plot,
        cli_train,
        demo,
    )

    args = build_parser().parse_args(argv)
    try:
        with sigterm_as_interrupt():  # SIGTERM cleans up like Ctrl-C (temporary files, half-built cache entries)
            return args.run(args)
    except KeyboardInterrupt as interrupt:
        terminated = "SIGTERM" in str(interrupt)
        print("terminated" if terminated else "interrupted", file=sys.stderr)
        return 143 if terminated else 130
    except Exception as error:  # one clear line unless --debug
        if args.debug:
            raise
        print(f"realnet {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # `python -m realnet_plugin.cli`: use the package module, where commands register
    from realnet_plugin.cli import main as package_main

    sys.exit(package_main())
