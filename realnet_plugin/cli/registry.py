"""The command registry of the ``realnet`` command line: ``@command(name)`` functions that add a subcommand.

Each command module (``realnet_plugin/cli/<family>.py``) decorates one ``add(sub)`` function per subcommand; the
package ``realnet_plugin.cli`` imports every command module explicitly and :func:`realnet_plugin.cli.build_parser`
calls the registered functions in registration order. This module imports only the standard library and nothing
of ``realnet_plugin.cli``, so command modules never import the package that imports them.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable

Adder = Callable[[argparse._SubParsersAction], None]
COMMANDS: dict[str, Adder] = {}


def command(name: str) -> Callable[[Adder], Adder]:
    """Register a function ``add(sub)`` that adds the subcommand ``name`` to the ``realnet`` parser's subparsers.

    Raises ``ValueError`` when another function already registered ``name`` (the same function registering again,
    e.g. its module reloaded, replaces itself)."""

    def decorate(add: Adder) -> Adder:
        known = COMMANDS.get(name)
        if known is not None and (known.__module__, known.__qualname__) != (add.__module__, add.__qualname__):
            raise ValueError(f"realnet command {name!r} is registered twice: by {known.__module__}."
                             f"{known.__qualname__} and {add.__module__}.{add.__qualname__}")
        COMMANDS[name] = add
        return add

    return decorate
