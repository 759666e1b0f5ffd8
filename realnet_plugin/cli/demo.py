"""``realnet demo``: the offline end-to-end demo (:mod:`realnet_plugin.demo`)."""
from __future__ import annotations

import argparse
from pathlib import Path

from realnet_plugin.demo import DemoSizes, run_demo
from realnet_plugin.demo import __doc__ as DEMO_DOC

from .registry import command


@command("demo")
def _add_demo(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("demo", help="run the offline end-to-end demo", description=DEMO_DOC,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, default=None,
                        help="scratch REALNET_HOME for the demo (default: a new temporary folder); your own "
                             "models and caches are never touched")
    parser.add_argument("--epochs", type=int, default=DemoSizes.epochs, help="training epochs (default 2)")
    parser.set_defaults(run=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    from .arguments import check_output_path

    check_output_path(args.home, "--home", folder=True)
    run_demo(args.home, DemoSizes(epochs=args.epochs))
    return 0
