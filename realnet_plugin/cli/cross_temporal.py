"""``realnet cross-temporal``: model recurrent steps x EEG time (cross-temporal RSA), a figure and a JSON summary."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .arguments import check_output_path, parse_options
from .registry import command


@command("cross-temporal")
def _add_cross_temporal(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "cross-temporal", help="RSA of every recurrent step of a model against every EEG time point",
        description="Compare the model RDM of every recurrent step of each block (CORnet-S V4.output -> "
                    "V4.output-t0..t3) with the EEG RDM of every time point of a things-eeg-rsa benchmark, per "
                    "subject; test clusters over the (step, time) matrix; draw one heatmap per block.")
    parser.add_argument("model", help="model id, e.g. cornet_s, realnet_s01_b100")
    parser.add_argument("benchmark", help="things-eeg-rsa benchmark id, e.g. things-eeg-rsa-correlation")
    parser.add_argument("--out", type=Path, required=True, help="figure file (.png or .pdf)")
    parser.add_argument("--json", type=Path, help="also write the summary (matrix, peaks, clusters) to this file")
    parser.add_argument("--layers", default=None,
                        help="comma-separated module names (default: the model's recurrent modules)")
    parser.add_argument("--family", choices=("matrix", "step"), default="matrix",
                        help="cluster family: one over the whole matrix (default) or one per step")
    parser.add_argument("--alpha", type=float, default=0.05, help="clusters with p below this are outlined")
    parser.add_argument("--random-weights", action="store_true", help="build the model without trained weights")
    parser.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per forward pass (default 32)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="benchmark option, repeatable (e.g. root=/data/things-eeg2, n_permutations=1000)")
    parser.set_defaults(run=_run_cross_temporal)


def _run_cross_temporal(args: argparse.Namespace) -> int:
    from benchmarks.things_eeg_rsa.benchmark import ThingsEEGRsaBenchmark
    from benchmarks.things_eeg_rsa.cross_temporal import cross_temporal_rsa
    from model_registry import load_model
    from realnet_plugin.api import load_benchmark
    from realnet_plugin.plots import _check_suffix
    from realnet_plugin.plots_cross_temporal import plot_cross_temporal

    _check_suffix(args.out)
    check_output_path(args.out, "--out")
    check_output_path(args.json, "--json")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    if not 0 < args.alpha < 1:
        raise ValueError(f"--alpha must be strictly between 0 and 1, got {args.alpha}")
    layers = [name.strip() for name in args.layers.split(",") if name.strip()] if args.layers else None
    benchmark = load_benchmark(args.benchmark, **parse_options(args.option))
    if not isinstance(benchmark, ThingsEEGRsaBenchmark):
        raise ValueError(f"{args.benchmark} is not a things-eeg-rsa benchmark; cross-temporal RSA needs "
                         "time-resolved EEG RDMs")
    benchmark.validate()  # data checked before the model is built
    model = load_model(args.model, pretrained=not args.random_weights, device=args.device,
                       batch_size=args.batch_size)
    result = cross_temporal_rsa(model, benchmark, layers, family=args.family)
    peaks = result.peak_times()
    significant = result.significant(args.alpha)
    print(f"{result.model} on {result.benchmark}: {len(result.subjects)} subject(s) {result.subjects}")
    print(f"{'layer':20s} {'peak ms':>8s} {'peak r':>7s} significant")
    mean = result.mean
    for name in mean["layer"].values:
        peak = float(peaks.sel(layer=name))
        value = float(mean.sel(layer=name).sel(time=peak)) if peak == peak else float("nan")
        cells = int(significant.sel(layer=name).sum())
        print(f"{name:20s} {peak * 1000:8.0f} {value:7.3f} {cells} time point(s)")
    if result.note:
        print(result.note)
    out = plot_cross_temporal(result, args.out, alpha=args.alpha)
    print(f"wrote {out}")
    if args.json:
        from model_registry.storage.atomic import atomic_path

        with atomic_path(args.json, suffix=".json") as tmp:
            Path(tmp).write_text(json.dumps(result.to_dict(), indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0
