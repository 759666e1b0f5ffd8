"""Read ``.npy`` files that hold pickled objects (``np.save`` of a dict) without running arbitrary pickle code.

THINGS-EEG2 ships its EEG and image metadata as ``np.save(path, dict)``: a ``.npy`` header announcing a 0-d
object array, followed by a pickle. ``np.load(allow_pickle=True)`` would execute whatever that pickle names.
Here the header is parsed with :mod:`numpy.lib.format` and the pickle is read by an unpickler that admits only
the globals such files contain: numpy array reconstruction, ``numpy.ndarray``, ``numpy.dtype`` and numpy scalars.
Containers and plain values (dict, list, tuple, str, bytes, int, float, bool, None) need no globals at all.
Anything else (``os.system``, ``builtins.eval``, arbitrary classes) raises :class:`UnsafePickleError`.

Memory: a pickle cannot be memory-mapped; unpickling an array briefly holds both its raw bytes and the array.
"""
from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.core import multiarray as _multiarray

# (module, name) -> object. numpy >= 2 writes ``numpy._core``; numpy 1.x writes ``numpy.core``.
_ADMITTED_GLOBALS: dict[tuple[str, str], Any] = {}
for _module in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ADMITTED_GLOBALS[(_module, "_reconstruct")] = _multiarray._reconstruct
    _ADMITTED_GLOBALS[(_module, "scalar")] = _multiarray.scalar
_ADMITTED_GLOBALS[("numpy", "ndarray")] = np.ndarray
_ADMITTED_GLOBALS[("numpy", "dtype")] = np.dtype


class UnsafePickleError(pickle.UnpicklingError):
    """A pickled ``.npy`` file names a global outside the admitted set (or is not a readable pickle)."""


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, handle: IO[bytes], source: str):
        super().__init__(handle)
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ADMITTED_GLOBALS[(module, name)]
        except KeyError:
            admitted = sorted(f"{m}.{n}" for m, n in _ADMITTED_GLOBALS)
            raise UnsafePickleError(
                f"{self._source}: refused to unpickle global '{module}.{name}'; only numpy arrays, dtypes, scalars "
                f"and plain containers are admitted ({', '.join(admitted)}). The file is not a plain numpy "
                "save of data; do not load it with allow_pickle=True unless you trust its origin."
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self._source}: refused persistent id {pid!r} in pickle")


def _read_header(handle: IO[bytes], source: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    try:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(handle)
        if version in ((2, 0), (3, 0)):  # 3.0 differs from 2.0 only by a utf-8 header; ours are ascii
            return np.lib.format.read_array_header_2_0(handle)
    except ValueError as error:
        raise ValueError(f"{source}: not a valid .npy file ({error})") from error
    raise ValueError(f"{source}: unsupported .npy format version {version[0]}.{version[1]}")


def safe_load_npy(path: str | os.PathLike) -> np.ndarray:
    """Load an ``.npy`` file; pickled (object-dtype) content is read with the restricted unpickler.

    Returns the stored array: for ``np.save(path, some_dict)`` a 0-d object array holding the dict.
    Raises :class:`UnsafePickleError` for a pickle naming any non-admitted global, ``ValueError`` for a file
    that is not a valid ``.npy``.
    """
    path = Path(path)
    with open(path, "rb") as handle:
        shape, fortran_order, dtype = _read_header(handle, str(path))
        if not dtype.hasobject:
            handle.seek(0)
            return np.lib.format.read_array(handle, allow_pickle=False)
        try:
            array = _RestrictedUnpickler(handle, str(path)).load()
        except UnsafePickleError:
            raise
        except (pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError) as error:
            reason = f"{type(error).__name__}: {error}"
            raise UnsafePickleError(f"{path}: cannot read its pickled content ({reason})") from error
    if not isinstance(array, np.ndarray) or array.shape != tuple(shape):
        found = f"array of shape {array.shape}" if isinstance(array, np.ndarray) else type(array).__name__
        raise ValueError(f"{path}: header announces an object array of shape {tuple(shape)}, the pickle holds {found}")
    return array


def safe_load_npy_dict(path: str | os.PathLike) -> dict:
    """Load an ``.npy`` file written by ``np.save(path, a_dict)`` and return the dict (restricted unpickling)."""
    array = safe_load_npy(path)
    if array.dtype != object or array.shape != ():
        raise ValueError(f"{path}: expected a saved dict (0-d object array), found an array of shape {array.shape} "
                         f"and dtype {array.dtype}")
    content = array.item()
    if not isinstance(content, dict):
        raise ValueError(f"{path}: expected a saved dict, found a saved {type(content).__name__}")
    return content
