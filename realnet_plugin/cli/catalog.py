"""``realnet list models|benchmarks [PATTERN] [--details]``: registered ids matching a shell wildcard."""
from __future__ import annotations

import argparse
import sys

from .registry import command


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
    if args.what == "benchmarks":  # only the package each listing needs (models: no benchmark is imported)
        from benchmarks import list_benchmarks

        found = list_benchmarks(args.pattern)
        for identifier in found:
            print(identifier)
        return 0 if found else _nothing_listed("benchmark", args.pattern, "")
    from model_registry import get_spec, list_models
    from model_registry.registry import family_prefixes

    found = list_models(args.pattern)
    if not found:
        return _nothing_listed("model", args.pattern, "; families of thousands of ids are listed only when the "
                               f"pattern names their prefix: {', '.join(repr(p + '*') for p in family_prefixes())}")
    for identifier in found:
        if not args.details:
            print(identifier)
            continue
        spec = get_spec(identifier)
        print(f"{identifier:24s} {spec.family:12s} layers={','.join(spec.layers)} weights={spec.weights_url}")
    return 0


def _nothing_listed(kind: str, pattern: str, hint: str) -> int:
    """One line on stderr and exit status 1 (as grep) when no id matches: an empty listing is never silent."""
    print(f"realnet: no {kind} id matches {pattern!r}{hint}", file=sys.stderr)
    return 1
