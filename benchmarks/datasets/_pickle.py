"""The one restricted unpickler for every pickled dataset input: nothing outside a caller's allow-list is imported.

Two dataset formats hold pickles: THINGS-EEG2 ships its EEG and image metadata as ``np.save(path, dict)`` (a
``.npy`` header announcing a 0-d object array, followed by a pickle), and pandas' fixed-format HDF5 files
(THINGS-fMRI) store mixed index labels as a pickled object array. ``np.load(allow_pickle=True)`` or
``pickle.loads`` would execute whatever such a pickle names. Here every pickle is read by
:class:`RestrictedUnpickler`, which resolves a global only when the caller's allow-list names it; each caller
passes its own list explicitly (``allowed=``), today :data:`NUMPY_ARRAY_GLOBALS` (numpy array reconstruction,
``numpy.ndarray``, ``numpy.dtype`` and numpy scalars) for both formats. Containers and plain values (dict, list,
tuple, str, bytes, int, float, bool, None) need no globals at all. Anything else (``os.system``,
``builtins.eval``, arbitrary classes, persistent ids) raises :class:`UnsafePickleError`, a
:class:`~benchmarks.datasets.errors.DatasetFormatError` that is also a ``pickle.UnpicklingError``.

Memory: a pickle cannot be memory-mapped; unpickling an array briefly holds both its raw bytes and the array.
"""
from __future__ import annotations

import io
import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any

import numpy as np
from numpy.core import multiarray as _multiarray

from .errors import DatasetFormatError

Allowed = Mapping[tuple[str, str], Any]  # (module, name) -> the object the pickle may refer to

# numpy >= 2 writes ``numpy._core``; numpy 1.x writes ``numpy.core``.
NUMPY_ARRAY_GLOBALS: Allowed = MappingProxyType({
    **{(module, name): getattr(_multiarray, name)
       for module in ("numpy.core.multiarray", "numpy._core.multiarray") for name in ("_reconstruct", "scalar")},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
})


class UnsafePickleError(DatasetFormatError, pickle.UnpicklingError):
    """A pickle names a global outside the caller's allow-list, a persistent id, or cannot be read at all."""


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves only the globals in ``allowed``; ``source`` names the input in errors."""

    def __init__(self, handle: IO[bytes], source: str, *, allowed: Allowed):
        super().__init__(handle)
        self._source = source
        self._allowed = allowed

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            admitted = sorted(f"{m}.{n}" for m, n in self._allowed)
            raise UnsafePickleError(
                f"{self._source}: refused to unpickle global '{module}.{name}' (admitted globals: "
                f"{', '.join(admitted) or 'none'}; plain containers need none). The file is not a plain save of "
                "data; do not load it with allow_pickle=True unless you trust its origin."
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self._source}: refused persistent id {pid!r} in pickle")


def restricted_load(handle: IO[bytes], source: str, *, allowed: Allowed) -> Any:
    """Unpickle one object from ``handle`` admitting only the globals in ``allowed``.

    Raises :class:`UnsafePickleError` naming ``source`` for a refused global or persistent id and for a pickle that
    cannot be read (truncated, garbage).
    """
    try:
        return RestrictedUnpickler(handle, source, allowed=allowed).load()
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError, IndexError) as error:
        raise UnsafePickleError(f"{source}: cannot read its pickled content ({type(error).__name__}: {error})") \
            from error


def restricted_loads(data: bytes, source: str, *, allowed: Allowed) -> Any:
    """:func:`restricted_load` of a bytes object."""
    return restricted_load(io.BytesIO(data), source, allowed=allowed)


def _read_header(handle: IO[bytes], source: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    try:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(handle)
        if version in ((2, 0), (3, 0)):  # 3.0 differs from 2.0 only by a utf-8 header; ours are ascii
            return np.lib.format.read_array_header_2_0(handle)
    except ValueError as error:
        raise DatasetFormatError(f"{source}: not a valid .npy file ({error})") from error
    raise DatasetFormatError(f"{source}: unsupported .npy format version {version[0]}.{version[1]}")


def safe_load_npy(path: str | os.PathLike, *, allowed: Allowed) -> np.ndarray:
    """Load an ``.npy`` file; pickled (object-dtype) content is read with the restricted unpickler.

    Returns the stored array: for ``np.save(path, some_dict)`` a 0-d object array holding the dict. Raises
    :class:`UnsafePickleError` for a pickle naming any global outside ``allowed`` (or unreadable),
    :class:`~benchmarks.datasets.errors.DatasetFormatError` for a file that is not a valid ``.npy``.
    """
    path = Path(path)
    with open(path, "rb") as handle:
        shape, _fortran_order, dtype = _read_header(handle, str(path))
        if not dtype.hasobject:
            handle.seek(0)
            return np.lib.format.read_array(handle, allow_pickle=False)
        array = restricted_load(handle, str(path), allowed=allowed)
    if not isinstance(array, np.ndarray) or array.shape != tuple(shape):
        found = f"array of shape {array.shape}" if isinstance(array, np.ndarray) else type(array).__name__
        raise DatasetFormatError(f"{path}: header announces an object array of shape {tuple(shape)}, the pickle "
                                 f"holds {found}")
    return array


def safe_load_npy_dict(path: str | os.PathLike, *, allowed: Allowed) -> dict:
    """Load an ``.npy`` file written by ``np.save(path, a_dict)`` and return the dict (restricted unpickling).

    Raises as :func:`safe_load_npy`, and :class:`~benchmarks.datasets.errors.DatasetFormatError` when the file holds
    anything but a dict.
    """
    array = safe_load_npy(path, allowed=allowed)
    if array.dtype != object or array.shape != ():
        raise DatasetFormatError(f"{path}: expected a saved dict (0-d object array), found an array of shape "
                                 f"{array.shape} and dtype {array.dtype}")
    content = array.item()
    if not isinstance(content, dict):
        raise DatasetFormatError(f"{path}: expected a saved dict, found a saved {type(content).__name__}")
    return content
