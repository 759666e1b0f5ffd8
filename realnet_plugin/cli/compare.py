"""``realnet compare A B --benchmark ...``: the paper's similarity improvement and improvement ratio of model A over
model B (families allowed), paired clusters over the shared subjects, bootstrap intervals, a figure and JSON."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .arguments import check_output_path, parse_options
from .registry import command


@command("compare")
def _add_compare(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "compare", help="similarity improvement and ratio of model A over model B, with paired clusters",
        description="Score A and B on a things-eeg-rsa benchmark (a family such as 'realnet_s*_b100' is scored "
                    "against each model's own subject; a plain model then against the family's subjects) and "
                    "report per layer r(A) - r(B) and (r(A) - r(B)) / r(B), the paired two-sided cluster test over "
                    "the shared subjects and bootstrap intervals.")
    parser.add_argument("a", help="model A: an id, a wildcard family ('realnet_s*_b100') or comma-separated ids")
    parser.add_argument("b", help="model B, e.g. cornet_s")
    parser.add_argument("--benchmark", default="things-eeg-rsa", help="things-eeg-rsa benchmark id")
    parser.add_argument("--out", type=Path, help="figure of the layer --layer (.png or .pdf)")
    parser.add_argument("--json", type=Path, help="write every layer's time courses, intervals and clusters here")
    parser.add_argument("--layer", default=None, help="layer of the figure (default: A's best layer)")
    parser.add_argument("--n-permutations", type=int, default=1000, help="cluster test permutations (default 1000)")
    parser.add_argument("--n-bootstrap", type=int, default=1000, help="bootstrap resamples of subjects (0: none)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the permutations and the bootstrap")
    parser.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per forward pass (default 32)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="benchmark option, repeatable (e.g. root=/data/things-eeg2, window=[-0.1,0.49], "
                             "min_cluster_length=2)")
    parser.set_defaults(run=_run_compare)


def _run_compare(args: argparse.Namespace) -> int:
    import numpy as np

    from model_registry.storage.atomic import atomic_path
    from realnet_plugin.api import improvement, is_family, score
    from realnet_plugin.plots import _check_suffix, plot_improvement

    if args.out is not None:
        _check_suffix(args.out)
    check_output_path(args.out, "--out")
    check_output_path(args.json, "--json")
    for flag, value in (("--n-permutations", args.n_permutations), ("--n-bootstrap", args.n_bootstrap),
                        ("--seed", args.seed)):
        if value < 0:
            raise ValueError(f"{flag} must be >= 0, got {value}")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    options = parse_options(args.option)
    model_options = {"device": args.device, "batch_size": args.batch_size}
    # A first (a family fixes the subjects), then B against the same subjects; the reverse when only B is a family
    first, second = (args.a, args.b) if is_family(args.a) or not is_family(args.b) else (args.b, args.a)
    result_first = score(first, args.benchmark, model_options=model_options, **options)
    subjects = result_first.attrs.get("subjects") if result_first.attrs.get("family") else None
    extra = {"score_subjects": subjects} if subjects is not None and not is_family(second) else {}
    result_second = score(second, args.benchmark, model_options=model_options, **{**options, **extra})
    result_a, result_b = (result_first, result_second) if first == args.a else (result_second, result_first)
    found = improvement(result_a, result_b, n_permutations=args.n_permutations, n_bootstrap=args.n_bootstrap,
                        seed=args.seed)
    times = found.improvement["time"].values
    from realnet_plugin.results import model_label

    label_a, label_b = model_label(result_a.attrs, found.model_a), model_label(result_b.attrs, found.model_b)
    print(f"{label_a} (A) vs {label_b} (B) on {args.benchmark}: subjects {found.subjects}, clusters in "
          f"{found.cluster_window[0]:+.3f} .. {found.cluster_window[1]:+.3f} s")
    print(f"{'layer':10s} {'mean impr':>9s} {'peak impr':>9s} {'at ms':>6s} {'mean ratio':>10s} significant (p<0.05)")
    inside = (times >= found.cluster_window[0] - 1e-9) & (times <= found.cluster_window[1] + 1e-9)
    for layer in found.improvement["layer"].values.tolist():
        values = found.improvement.sel(layer=layer).values
        ratio = found.ratio.sel(layer=layer).values
        peak = int(np.nanargmax(np.where(inside, values, np.nan)))
        spans = [f"{c['start'] * 1000:.0f}..{c['end'] * 1000:.0f} ms" for c in found.clusters.get(layer, [])
                 if c["p"] < 0.05]
        print(f"{layer:10s} {np.nanmean(values[inside]):9.4f} {values[peak]:9.4f} {times[peak] * 1000:6.0f} "
              f"{np.nanmean(ratio[inside]):10.3f} {', '.join(spans) or 'none'}")
    if args.json:
        with atomic_path(args.json, suffix=".json") as tmp:
            Path(tmp).write_text(json.dumps(found.to_dict(), indent=1) + "\n")
        print(f"wrote {args.json}")
    if args.out:
        layer = args.layer or result_a.attrs.get("best_layer")
        if layer not in found.clusters and args.n_permutations:
            raise ValueError(f"--layer {layer!r} is not among the compared layers "
                             f"{found.improvement['layer'].values.tolist()}")
        spans = [(c["start"], c["end"]) for c in found.clusters.get(layer, []) if c["p"] < 0.05] \
            if args.n_permutations else None
        print(f"wrote {plot_improvement(result_a, result_b, args.out, layer=layer, spans=spans)}")
    return 0
