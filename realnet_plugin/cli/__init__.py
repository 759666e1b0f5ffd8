"""The ``realnet`` command line: ``list``, ``score``, ``data`` (and the verbs later issues add)."""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

# Only the standard library at import: ``realnet --help`` must not load torch, xarray or Brain-Score. Each command
# imports what it needs inside its ``run`` function (and the command modules below follow the same rule).
SIGPIPE_EXIT = 141  # 128 + SIGPIPE: what a shell reports for a writer whose reader closed the pipe (``| head``)
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


class _IntermixedParser(argparse.ArgumentParser):
    """Subcommand parser that takes options before, between or after positional arguments
    (``list models --details 'clip*'``): :meth:`argparse.ArgumentParser.parse_known_intermixed_args`, or the plain
    parse where argparse cannot intermix (a nested subcommand, ``REMAINDER``, a positional in a mutually exclusive
    group: those parsers keep the usual order rules)."""

    _intermixing = False

    def _can_intermix(self) -> bool:
        positionals = self._get_positional_actions()
        if any(action.nargs in (argparse.PARSER, argparse.REMAINDER) for action in positionals):
            return False
        return not any(action in positionals for group in self._mutually_exclusive_groups
                       for action in group._group_actions)

    def parse_known_args(self, args=None, namespace=None):
        if self._intermixing or not self._can_intermix():
            return super().parse_known_args(args, namespace)
        self._intermixing = True  # parse_known_intermixed_args calls parse_known_args twice itself
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


class _VersionAction(argparse.Action):
    """``--version``: print ``realnet <version of the installed realnet-plugin distribution>`` and exit 0."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from realnet_plugin import __version__  # importlib.metadata, read only when asked

        print(f"realnet {__version__}")
        parser.exit()


def _register_commands() -> None:
    """Import the command modules, whose ``@command`` functions add the other subcommands (standard library only
    at their import)."""
    from realnet_plugin import (  # noqa: F401 (register them)
        cli_cache,
        cli_compare,
        cli_cross_temporal,
        cli_data,
        cli_experiment,
        cli_leaderboard,
        cli_paper,
        cli_plot,
        cli_train,
        demo,
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``realnet`` parser with every registered subcommand (options may follow positional arguments)."""
    _register_commands()
    parser = argparse.ArgumentParser(
        prog="realnet", description="Human-brain alignment for vision models: ReAlnet, model registry, benchmarks.")
    parser.add_argument("--version", action=_VersionAction, help="print the installed realnet-plugin version")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_IntermixedParser)
    for add in COMMANDS.values():
        add(sub)
    return parser


def _stdout_reader_gone() -> bool:
    """Whether standard output is a pipe whose reading end was closed (``realnet list models | head -1``)."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows), no file descriptor (captured output)
        return False


def _quiet_closed_stdout() -> None:
    """Point standard output at ``os.devnull`` so that the interpreter's last flush of text the reader no longer
    wants raises nothing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``realnet`` console script: parse ``argv`` (default ``sys.argv[1:]``), run the command and
    return its exit status: 0 done, 1 error (one line on stderr unless ``--debug``), 130 / 143 interrupted / SIGTERM,
    141 when the reader of standard output went away (``| head``; nothing is printed about it)."""
    try:
        try:
            return _main(argv)
        finally:
            sys.stdout.flush()  # buffered output meets a closed pipe here, not in the interpreter's exit
    except BrokenPipeError:
        if not _stdout_reader_gone():
            raise
        _quiet_closed_stdout()
        return SIGPIPE_EXIT


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    from model_registry.cleanup import sigterm_as_interrupt  # after parsing: --help needs no registry

    try:
        with sigterm_as_interrupt():  # SIGTERM cleans up like Ctrl-C (temporary files, half-built cache entries)
            return args.run(args)
    except KeyboardInterrupt as interrupt:
        terminated = "SIGTERM" in str(interrupt)
        print("terminated" if terminated else "interrupted", file=sys.stderr)
        return 143 if terminated else 130
    except Exception as error:  # one clear line unless --debug
        if args.debug or (isinstance(error, BrokenPipeError) and _stdout_reader_gone()):
            raise  # a closed standard output: main() ends quietly
        print(f"realnet {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # `python -m realnet_plugin.cli`: use the package module, where commands register
    from realnet_plugin.cli import main as package_main

    sys.exit(package_main())
