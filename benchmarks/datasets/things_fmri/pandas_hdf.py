"""Read (and write) a pandas ``DataFrame.to_hdf`` file of the default "fixed" format with h5py alone.

THINGS-fMRI ships its single-trial responses as ``pd.read_hdf``-able files. Reading them with pandas needs
PyTables (not a dependency here) and loads the whole frame (8+ GB per subject); this module reads the layout
directly so the loader can stream row blocks of the one big value array. Layout written by pandas (checked
against pandas 2.3 + PyTables 3.11 output)::

    /<key>                    group, attrs pandas_type='frame', ndim=2, nblocks=N, encoding, axis*_variety ...
    /<key>/axis0              column labels      \\  index arrays: attr kind = 'integer' | 'float' | 'string'
    /<key>/axis1              row labels          |  (plain arrays) or 'object' (a PyTables VLARRAY holding one
    /<key>/block{i}_items     labels of block i  /   pickled object ndarray: mixed labels such as 'voxel_id', 0, 1 ...)
    /<key>/block{i}_values    (n_rows, n_items_i) values of block i (one dtype per block), attr transposed=1

Pickled label arrays are read by the restricted unpickler of :mod:`benchmarks.datasets._pickle`, admitting only
numpy array reconstruction (:data:`INDEX_PICKLE_GLOBALS`), so a crafted file cannot run code. Only single-level
("regular") row and column indexes are supported.
"""
from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from .._pickle import NUMPY_ARRAY_GLOBALS, restricted_loads
from ..errors import DatasetFormatError

# pandas pickles mixed index labels as one object ndarray: numpy array reconstruction is all it needs
INDEX_PICKLE_GLOBALS = NUMPY_ARRAY_GLOBALS


def _text(value) -> str:
    return value.decode() if isinstance(value, (bytes, np.bytes_)) else str(value)


def read_index(node: h5py.Dataset, source: str) -> list:
    """The labels stored in one pandas index node (see the module docstring for the kinds)."""
    kind = _text(node.attrs.get("kind", b""))
    if kind == "object":
        if _text(node.attrs.get("CLASS", b"")) != "VLARRAY" or node.shape[:1] != (1,):
            raise DatasetFormatError(f"{source}: object index {node.name} is not a one-row VLARRAY")
        labels = restricted_loads(np.asarray(node[0], dtype=np.uint8).tobytes(), f"{source} ({node.name})",
                                  allowed=INDEX_PICKLE_GLOBALS)
        if not isinstance(labels, np.ndarray) or labels.ndim != 1:
            raise DatasetFormatError(f"{source}: pickled index {node.name} is not a 1-d array")
        return [label.item() if isinstance(label, np.generic) else label for label in labels]
    values = node[()]
    if kind == "string":
        return [_text(value) for value in values]
    if kind in ("integer", "float"):
        return values.tolist()
    raise DatasetFormatError(f"{source}: unsupported pandas index kind {kind!r} in {node.name} "
                             "(expected integer, float, string or object labels)")


@dataclass(frozen=True)
class FixedFrame:
    """The structure of one stored DataFrame; values stay on disk. ``columns``: all column labels in frame
    order; ``blocks[i]``: (values dataset of shape (n_rows, n_items), item labels)."""

    source: str
    group: h5py.Group
    n_rows: int
    columns: tuple
    blocks: tuple[tuple[h5py.Dataset, tuple], ...]

    def column(self, label) -> np.ndarray:
        """(n_rows,) values of one column."""
        dataset, positions = self.block_holding([label])
        return dataset[:, positions[0]]

    def block_holding(self, labels: Sequence) -> tuple[h5py.Dataset, np.ndarray]:
        """The values dataset that holds all ``labels`` and their (n_labels,) column positions in it."""
        wanted = set(labels)
        for dataset, items in self.blocks:
            position = {label: i for i, label in enumerate(items)}
            if wanted <= position.keys():
                return dataset, np.array([position[label] for label in labels], dtype=np.int64)
        missing = [label for label in labels if not any(label in items for _, items in self.blocks)]
        if missing:
            raise DatasetFormatError(f"{self.source}: column(s) {missing[:5]} not in the stored frame")
        raise DatasetFormatError(f"{self.source}: the requested columns are spread over several dtype blocks")


def open_frame(handle: h5py.File, source: str | Path, key: str | None = None) -> FixedFrame:
    """Describe the DataFrame stored under ``key`` (default: the file's only top-level group) in ``handle``."""
    source = str(source)
    if key is None:
        groups = [name for name, item in handle.items() if isinstance(item, h5py.Group)]
        if len(groups) != 1:
            raise DatasetFormatError(f"{source}: expected one stored DataFrame (one top-level group), found "
                                     f"{groups or 'none'}")
        key = groups[0]
    if key not in handle:
        raise DatasetFormatError(f"{source}: no group {key!r} (found {list(handle)})")
    group = handle[key]
    attrs = group.attrs
    pandas_type = _text(attrs.get("pandas_type", b""))
    if pandas_type != "frame":
        hint = " (a PyTables 'table'-format frame; save it with format='fixed')" if "table" in pandas_type else ""
        raise DatasetFormatError(f"{source}: group {key!r} is not a pandas fixed-format DataFrame "
                                 f"(pandas_type={pandas_type or 'missing'}){hint}")
    for axis in ("axis0", "axis1"):
        variety = _text(attrs.get(f"{axis}_variety", b"regular"))
        if variety != "regular":
            raise DatasetFormatError(f"{source}: {axis} is a {variety} index; only single-level indexes are supported")
    try:
        n_blocks = int(attrs["nblocks"])
        columns = tuple(read_index(group["axis0"], source))
        n_rows = int(group["axis1"].shape[0])
        blocks = []
        for i in range(n_blocks):
            values = group[f"block{i}_values"]
            items = tuple(read_index(group[f"block{i}_items"], source))
            if values.ndim != 2 or values.shape != (n_rows, len(items)):
                raise DatasetFormatError(f"{source}: block{i}_values has shape {values.shape}, expected "
                                         f"({n_rows}, {len(items)}) (rows x items)")
            blocks.append((values, items))
    except KeyError as error:
        raise DatasetFormatError(f"{source}: incomplete pandas frame {key!r}: {error}") from error
    if sorted(map(repr, columns)) != sorted(repr(label) for _, items in blocks for label in items):
        raise DatasetFormatError(f"{source}: the block items do not add up to the frame's columns")
    return FixedFrame(source=source, group=group, n_rows=n_rows, columns=columns, blocks=tuple(blocks))


# --------------------------------------------------------------------------------------------------------------
# writing (for synthetic datasets): the same nodes and attributes pandas + PyTables write


def _string_attr(node, name: str, value: bytes, utf8: bool = True) -> None:
    """A scalar fixed-length string attribute as PyTables writes it: UTF-8 and null-terminated for text (read
    back as ``str``); ASCII for pickled Python objects such as ``b'N.'`` (= ``None``)."""
    string_type = h5py.h5t.C_S1.copy()
    string_type.set_size(max(len(value), 1))
    string_type.set_cset(h5py.h5t.CSET_UTF8 if utf8 else h5py.h5t.CSET_ASCII)
    string_type.set_strpad(h5py.h5t.STR_NULLTERM)
    if name in node.attrs:
        del node.attrs[name]
    if value:
        attribute = h5py.h5a.create(node.id, name.encode(), string_type, h5py.h5s.create(h5py.h5s.SCALAR))
        attribute.write(np.array(value, dtype=f"S{len(value)}"), mtype=string_type)
    else:  # PyTables stores an empty TITLE as a null dataspace
        h5py.h5a.create(node.id, name.encode(), string_type, h5py.h5s.create(h5py.h5s.NULL))


def _attrs(node, **values) -> None:
    for name, value in values.items():
        if isinstance(value, str):
            _string_attr(node, name, value.encode())
        else:
            node.attrs[name] = value


def _pytables_attrs(node, cls: str, version: str) -> None:
    _attrs(node, CLASS=cls, VERSION=version, TITLE="")


def _write_array(group: h5py.Group, name: str, values: np.ndarray) -> h5py.Dataset:
    dataset = group.create_dataset(name, data=values)
    _pytables_attrs(dataset, "ARRAY", "2.4")
    _attrs(dataset, FLAVOR="numpy", transposed=np.uint8(1))
    return dataset


def _write_index(group: h5py.Group, name: str, labels: Sequence) -> None:
    labels = list(labels)
    if all(isinstance(label, str) for label in labels):
        dataset, kind = _write_array(group, name, np.array([label.encode() for label in labels])), "string"
    elif all(isinstance(label, (int, np.integer)) and not isinstance(label, bool) for label in labels):
        dataset, kind = _write_array(group, name, np.asarray(labels, dtype=np.int64)), "integer"
    else:  # mixed labels: PyTables pickles the object array into a one-row VLARRAY of bytes
        payload = np.frombuffer(pickle.dumps(np.array(labels, dtype=object), protocol=5), dtype=np.uint8)
        dataset = group.create_dataset(name, shape=(1,), maxshape=(None,), chunks=(1,),
                                       dtype=h5py.vlen_dtype(np.uint8))
        dataset[0] = payload
        _pytables_attrs(dataset, "VLARRAY", "1.4")
        _attrs(dataset, PSEUDOATOM="object", transposed=np.uint8(1))
        kind = "object"
    _attrs(dataset, kind=kind)
    _string_attr(dataset, "name", b"N.", utf8=False)  # the pickled ``None`` PyTables stores for an unnamed index


def write_frame(path: str | Path, key: str, blocks: Sequence[tuple[Sequence, np.ndarray]],
                columns: Sequence | None = None) -> None:
    """Write a DataFrame in pandas' fixed format: ``blocks`` = [(item labels, (n_rows, n_items) values), ...]
    (one dtype per block, as pandas consolidates them); ``columns`` = frame column order (default: block order).
    Row labels are 0..n_rows-1. ``pd.read_hdf(path, key)`` reads the result when PyTables is installed."""
    n_rows = blocks[0][1].shape[0]
    columns = list(columns) if columns is not None else [label for items, _ in blocks for label in items]
    with h5py.File(path, "w") as handle:
        _pytables_attrs(handle, "GROUP", "1.0")
        _attrs(handle, PYTABLES_FORMAT_VERSION="2.1")
        group = handle.create_group(key)
        _pytables_attrs(group, "GROUP", "1.0")
        _attrs(group, pandas_type="frame", pandas_version="0.15.2", encoding="UTF-8", errors="strict",
               ndim=np.int64(2), nblocks=np.int64(len(blocks)), axis0_variety="regular", axis1_variety="regular")
        _write_index(group, "axis0", columns)
        _write_index(group, "axis1", range(n_rows))
        for i, (items, values) in enumerate(blocks):
            if values.shape != (n_rows, len(items)):
                raise ValueError(f"block {i}: values of shape {values.shape} for {len(items)} items x {n_rows} rows")
            _attrs(group, **{f"block{i}_items_variety": "regular"})
            _write_array(group, f"block{i}_values", values)
            _write_index(group, f"block{i}_items", items)
