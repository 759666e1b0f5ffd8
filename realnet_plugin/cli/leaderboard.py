"""``realnet leaderboard`` (score many models on many benchmarks into a SQLite file, render an HTML page) and
``realnet submit`` (write a Brain-Score plugin zip for a model or a benchmark)."""
from __future__ import annotations

import argparse
from pathlib import Path

from .arguments import check_output_path, parse_options
from .registry import command


@command("leaderboard")
def _add_leaderboard(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "leaderboard", help="score models x benchmarks into a leaderboard database and page",
        description="Score every (model, benchmark) pair, skipping pairs already scored with the same weights hash "
                    "and benchmark version, store the results in SQLite and optionally render an HTML page.")
    parser.add_argument("--models", required=True, help="comma-separated model ids or shell wildcards, "
                                                        "e.g. 'realnet_s0*_b100,cornet_s,clip_*'")
    parser.add_argument("--benchmarks", required=True, help="comma-separated benchmark ids or shell wildcards")
    parser.add_argument("--db", type=Path, default=None,
                        help="SQLite file (default: $REALNET_HOME/leaderboard.sqlite)")
    parser.add_argument("--workers", type=int, default=1, help="local worker processes (default 1: in this process)")
    parser.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                        help="run on a Dask distributed cluster instead of local processes")
    parser.add_argument("--html", type=Path, default=None, help="also write the leaderboard page to this file")
    parser.add_argument("--figure", action="append", default=[], metavar="MODEL=PNG",
                        help="embed a PNG figure for a model on the page; repeatable")
    parser.add_argument("--random-weights", action="store_true",
                        help="score seeded random initialisations instead of the trained weights")
    parser.add_argument("--seed", type=int, default=0, help="torch seed for building models (default 0)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="benchmark option, repeatable; values are parsed as JSON when possible")
    parser.add_argument("--device", default=None, help="torch device for the models (default: cuda if available)")
    parser.add_argument("--batch-size", type=int, default=None, help="images per forward pass")
    parser.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                        help="module that registers extra models/benchmarks, imported in every worker; repeatable")
    parser.add_argument("--rescore", action="store_true", help="score every pair again, ignoring stored results")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(run=_run_leaderboard)


def _parse_figures(pairs: list[str]) -> dict[str, Path]:
    figures = {}
    for pair in pairs:
        model, separator, path = pair.partition("=")
        if not separator or not model or not path:
            raise ValueError(f"--figure expects MODEL=PATH.png, got {pair!r}")
        if not Path(path).is_file():
            raise ValueError(f"--figure {pair}: {path} is not a file (expected a PNG written before the run)")
        figures[model] = Path(path)
    return figures


def _format(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _run_leaderboard(args: argparse.Namespace) -> int:
    from realnet_plugin.leaderboard import render_leaderboard, run_leaderboard

    figures = _parse_figures(args.figure)
    check_output_path(args.db, "--db")
    check_output_path(args.html, "--html")
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    model_options = {k: v for k, v in (("device", args.device), ("batch_size", args.batch_size)) if v is not None}
    run = run_leaderboard(args.models, args.benchmarks, db=args.db, workers=args.workers, scheduler=args.scheduler,
                          random_weights=args.random_weights, benchmark_options=parse_options(args.option),
                          model_options=model_options, imports=args.imports, seed=args.seed, rescore=args.rescore,
                          progress=not args.no_progress)
    width = max(len(o.model) for o in run.outcomes)
    bench_width = max(len(o.benchmark) for o in run.outcomes)
    for outcome in run.outcomes:
        result = outcome.result
        detail = (f"score {_format(result.score)}  raw {_format(result.raw)}  ceiling {_format(result.ceiling)}"
                  if result.ok else result.message)
        print(f"{outcome.model:<{width}}  {outcome.benchmark:<{bench_width}}  {outcome.status:<6}  {detail}")
    print(run.summary())
    if args.html:
        render_leaderboard(run.results, args.html, figures=figures)
        print(f"wrote {args.html}")
    failed = run.count("error")
    if failed:
        raise RuntimeError(f"{failed} of {len(run.outcomes)} pairs failed (stored as error rows in {run.db})")
    return 0


@command("submit")
def _add_submit(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "submit", help="write a Brain-Score plugin zip for a model or a benchmark",
        description="Write a Brain-Score vision plugin (models/<dir>/ or benchmarks/<dir>/ with __init__.py, "
                    "model.py or benchmark.py, requirements.txt, test.py, metadata.yaml) as a zip or a folder.")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("model", nargs="?", help="registered model id")
    target.add_argument("--benchmark", help="registered benchmark id (instead of a model)")
    parser.add_argument("--out", type=Path, required=True,
                        help="output .zip file, or a folder (created; must not exist) to write the plugin tree into")
    parser.add_argument("--as", dest="brainscore_id", default=None, metavar="ID",
                        help="benchmark: the Brain-Score id to register (needed with --option)")
    parser.add_argument("--plugin-dir", default=None, help="plugin folder name (default: derived from the id)")
    parser.add_argument("--weights-url", default=None, metavar="URL",
                        help="model: public https URL where a locally trained model's model.pt is published")
    parser.add_argument("--no-pin", action="store_true",
                        help="model: do not pin the weights hash (skips building the model now)")
    parser.add_argument("--reference-model", default=None,
                        help="benchmark: score this model now and make test.py expect that score")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="benchmark: option fixed in the plugin's factory, repeatable (JSON values)")
    parser.set_defaults(run=_run_submit)


def _run_submit(args: argparse.Namespace) -> int:
    from realnet_plugin.brainscore.submission import benchmark_plugin_files, model_plugin_files, write_plugin

    options = parse_options(args.option)
    is_zip = args.out.suffix.lower() == ".zip"
    check_output_path(args.out, "--out", folder=not is_zip, must_not_exist=not is_zip)
    if args.benchmark:
        files = benchmark_plugin_files(args.benchmark, brainscore_id=args.brainscore_id, plugin_dir=args.plugin_dir,
                                       reference_model=args.reference_model, options=options)
    else:
        if args.reference_model or args.option or args.brainscore_id:
            raise ValueError("--reference-model, --option and --as apply to --benchmark submissions only")
        files = model_plugin_files(args.model, plugin_dir=args.plugin_dir, pin_weights=not args.no_pin,
                                   weights_url=args.weights_url)
    written = write_plugin(files, args.out)
    print(f"wrote {written} ({len(files)} files: {', '.join(sorted(files))})")
    return 0
