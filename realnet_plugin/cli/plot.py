"""``realnet plot``: figures from scores saved with ``realnet score --json``."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .arguments import parse_options
from .registry import command

KINDS = ("auto", "timecourse", "improvement", "roi", "robustness", "rdm")


@command("plot")
def _add_plot(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "plot", help="draw figures of saved scores",
        description="Draw a figure (PNG or PDF by --out suffix) from score JSON files written by "
                    "`realnet score ... --json FILE`. One EEG score: time courses per layer with the noise-ceiling "
                    "band and significant clusters; two EEG scores: the first minus the second (improvement); an "
                    "fMRI score: ROI x layer bars; robustness scores: accuracy-vs-epsilon curves. "
                    "--kind rdm (no score file): RDM heatmaps of --model on --benchmark: the model RDM of a layer "
                    "next to the EEG RDM at a time point (default: the peak) or the fMRI ROI RDMs, images grouped "
                    "by category where the dataset has categories.")
    parser.add_argument("scores", nargs="*", type=Path,
                        help="score JSON or netCDF (.nc) file(s) (none for --kind rdm)")
    parser.add_argument("--out", type=Path, required=True, help="figure file (.png or .pdf)")
    parser.add_argument("--kind", choices=KINDS, default="auto", help="figure kind (default: from the score)")
    parser.add_argument("--layer", default=None,
                        help="layer for the improvement or RDM figure (default: the best layer)")
    rdm = parser.add_argument_group("RDM heatmaps (--kind rdm)")
    rdm.add_argument("--model", default=None, help="model id whose layer RDM is shown")
    rdm.add_argument("--benchmark", default=None, help="benchmark id giving the brain RDMs (things-eeg-rsa*, fMRI ROI)")
    rdm.add_argument("--time-ms", type=float, default=None,
                     help="EEG time point in ms after onset (default: the peak of the layer's similarity)")
    rdm.add_argument("--roi", default=None, help="fMRI ROI to show (default: every ROI)")
    rdm.add_argument("--subject", default=None, help="one subject's RDM instead of the subject mean")
    rdm.add_argument("--option", action="append", default=[], metavar="KEY=JSON",
                     help="benchmark option, e.g. root=/data/things-eeg2 (JSON values parsed); repeatable")
    parser.set_defaults(run=_run_plot)


def _kind(attrs: dict, n_files: int) -> str:
    if "accuracies" in attrs:
        return "robustness"
    dims = attrs.get("similarity", {}).get("dims", []) if isinstance(attrs.get("similarity"), dict) else []
    if "roi" in dims:
        return "roi"
    if "time" in dims:
        return "improvement" if n_files == 2 else "timecourse"
    raise ValueError("cannot tell which figure fits this score (no 'similarity' or 'accuracies'); use --kind")


def _run_rdm(args: argparse.Namespace) -> int:
    from realnet_plugin.rdm_views import plot_rdm_view

    if args.scores:
        raise ValueError("--kind rdm takes no score file; name --model and --benchmark")
    if not args.model or not args.benchmark:
        raise ValueError("--kind rdm needs --model and --benchmark")
    time = None if args.time_ms is None else args.time_ms / 1000
    out = plot_rdm_view(args.model, args.benchmark, args.out, layer=args.layer, time=time, roi=args.roi,
                        subject=args.subject, **parse_options(args.option))
    print(f"wrote {out}")
    return 0


def _run_plot(args: argparse.Namespace) -> int:
    from realnet_plugin import plots

    from .arguments import check_output_path

    check_output_path(args.out, "--out")  # before any score is read or model run
    if args.kind == "rdm":
        return _run_rdm(args)
    if not args.scores:
        raise ValueError(f"--kind {args.kind} needs at least one score JSON file")
    if args.model or args.benchmark or args.time_ms is not None or args.roi or args.subject or args.option:
        raise ValueError("--model, --benchmark, --time-ms, --roi, --subject and --option apply to --kind rdm only")
    loaded = []
    for path in args.scores:
        if not path.is_file():
            raise FileNotFoundError(f"score file not found: {path}")
        if path.suffix.lower() in (".nc", ".nc4", ".netcdf"):  # written by `realnet score --netcdf`
            from realnet_plugin.results import read_netcdf, score_to_dict

            loaded.append(score_to_dict(read_netcdf(path)))
            continue
        try:
            loaded.append(json.loads(path.read_text()))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not a score JSON file ({error})") from error
    kind = _kind(loaded[0], len(loaded)) if args.kind == "auto" else args.kind
    if kind == "improvement":
        if len(loaded) != 2:
            raise ValueError(f"the improvement figure needs two score files, got {len(loaded)}")
        out = plots.plot_improvement(loaded[0], loaded[1], args.out, layer=args.layer)
    elif kind == "robustness":
        from realnet_plugin.results import model_label

        out = plots.plot_robustness_curves({model_label(d, d.get("model_identifier") or str(p)): d
                                            for d, p in zip(loaded, args.scores)}, args.out)
    elif kind == "roi":
        out = plots.plot_roi_layers(loaded[0], args.out)
    else:
        out = plots.plot_time_course(loaded[0], args.out)
    print(f"wrote {out}")
    return 0
