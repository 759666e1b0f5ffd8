"""The ``realnet`` command line: :func:`main` (the console script ``realnet``, ``python -m realnet_plugin`` and
``python -m realnet_plugin.cli``) and :func:`build_parser`.

Floor plan: :mod:`.registry` holds the ``@command(name)`` decorator and the registered commands; one module per
command family adds its subcommands with it (:mod:`.catalog`: ``list``; :mod:`.scoring`: ``score``; :mod:`.cache`,
:mod:`.compare`, :mod:`.cross_temporal`, :mod:`.data`, :mod:`.experiment`, :mod:`.leaderboard` (``leaderboard``,
``submit``), :mod:`.paper`, :mod:`.plot`, :mod:`.train` (``train``, ``train-all``), :mod:`.demo`);
:mod:`.arguments` holds the helpers they share. This module imports each command module explicitly; no command
module imports this one (``tests/realnet_plugin/cli/test_cli_imports.py`` checks it).

Only the standard library at import: ``realnet --help`` must not load torch, xarray or Brain-Score. Each command
imports what it needs inside its ``run`` function.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from . import catalog, scoring  # noqa: F401 (register list, score: the first commands of --help)

# isort: split
from . import (  # noqa: F401 (register their commands, in this order in --help)
    cache,
    compare,
    cross_temporal,
    data,
    experiment,
    leaderboard,
    paper,
    plot,
    train,
)

# isort: split
from . import demo  # noqa: F401 (registers demo, the last command of --help)
from .arguments import check_output_path, parse_options
from .registry import COMMANDS, command

SIGPIPE_EXIT = 141  # 128 + SIGPIPE: what a shell reports for a writer whose reader closed the pipe (``| head``)
__all__ = ["COMMANDS", "SIGPIPE_EXIT", "build_parser", "check_output_path", "command", "main", "parse_options"]


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


def build_parser() -> argparse.ArgumentParser:
    """The ``realnet`` parser with every registered subcommand (options may follow positional arguments)."""
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
    from model_registry.storage.cleanup import sigterm_as_interrupt  # after parsing: --help needs no registry

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
