"""``realnet plot``: figures from scores saved with ``realnet score --json``."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .cli import command

KINDS = ("auto", "timecourse", "improvement", "roi", "robustness")


@command("plot")
def _add_plot(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "plot", help="draw figures of saved scores",
        description="Draw a figure (PNG or PDF by --out suffix) from score JSON files written by "
                    "`realnet score ... --json FILE`. One EEG score: time courses per layer with the noise-ceiling "
                    "band and significant clusters; two EEG scores: the first minus the second (improvement); an "
                    "fMRI score: ROI x layer bars; robustness scores: accuracy-vs-epsilon curves.")
    parser.add_argument("scores", nargs="+", type=Path, help="score JSON file(s)")
    parser.add_argument("--out", type=Path, required=True, help="figure file (.png or .pdf)")
    parser.add_argument("--kind", choices=KINDS, default="auto", help="figure kind (default: from the score)")
    parser.add_argument("--layer", default=None, help="layer for the improvement figure (default: best of the first)")
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


def _run_plot(args: argparse.Namespace) -> int:
    from . import plots

    loaded = []
    for path in args.scores:
        if not path.is_file():
            raise FileNotFoundError(f"score file not found: {path}")
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
        out = plots.plot_robustness_curves({d.get("model_identifier", str(p)): d for d, p in zip(loaded, args.scores)},
                                           args.out)
    elif kind == "roi":
        out = plots.plot_roi_layers(loaded[0], args.out)
    else:
        out = plots.plot_time_course(loaded[0], args.out)
    print(f"wrote {out}")
    return 0
