"""Command-line helpers shared by the command modules: ``--option KEY=VALUE`` parsing and output-path checks
(standard library only)."""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path


def parse_options(pairs: Sequence[str]) -> dict:
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
            _probe(ancestor, path, flag, make_folder=ancestor != path.absolute().parent)
            return
        if ancestor.is_symlink():  # a dangling link where a folder should be
            raise ValueError(f"{flag} {path}: {ancestor} is a broken link, not a folder")


def _probe(folder: Path, path: Path, flag: str, *, make_folder: bool) -> None:
    """Create (and remove at once) a hidden file, or a folder where folders are still to be made, in ``folder``:
    ``os.access`` says yes to root everywhere, even where nothing can be made (``/proc``, a read-only mount)."""
    import tempfile

    try:
        if make_folder:
            os.rmdir(tempfile.mkdtemp(prefix=".realnet-probe-", dir=folder))
        else:
            handle, name = tempfile.mkstemp(prefix=".realnet-probe-", dir=folder)
            os.close(handle)
            os.unlink(name)
    except OSError as error:
        what = "create a folder" if make_folder else "create a file"
        raise ValueError(f"{flag} {path}: cannot {what} under {folder} ({error.strerror or error})") from None
