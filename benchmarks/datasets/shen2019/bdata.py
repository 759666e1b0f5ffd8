"""Read and write bdpy's BData HDF5 files (Kamitani lab; Shen et al. 2019 ship their fMRI data in it).

Layout (as ``bdpy.BData.save`` writes it; ``BData.load`` also accepts the legacy names ``dataSet``/``metaData``)::

    /dataset                (n_samples, n_columns) float: one row per fMRI sample (volume or block average);
                            columns are voxels and per-sample labels (Run, Block, DataType, stimulus ...)
    /metadata/key           (n_keys,) byte strings, e.g. VoxelData, voxel_x, ROI_V1, ..., Run, stimulus_name
    /metadata/description   (n_keys,) byte strings, e.g. '1 = ROI V1'
    /metadata/value         (n_keys, n_columns) float: per key and column a value, 1 marking membership
                            (``select('ROI_V1 = 1')`` takes the columns where ROI_V1's value is 1), NaN = n/a
    /vmap/<key>/<float>     optional byte-string labels of a label column's values (e.g. image file names)
    /header/...             optional provenance (creation time, call stack); not read here

No pickles are involved; everything is read with h5py.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ..errors import DatasetFormatError


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, (bytes, np.bytes_)) else str(value)


@dataclass(frozen=True)
class BData:
    """One BData file in memory. ``dataset`` (n_samples, n_columns) float64; ``values`` (n_keys, n_columns)."""

    source: str
    dataset: np.ndarray
    keys: tuple[str, ...]
    descriptions: tuple[str, ...]
    values: np.ndarray
    vmap: Mapping[str, Mapping[float, str]] = field(default_factory=dict)

    def metadata(self, key: str) -> np.ndarray:
        """(n_columns,) metadata values of ``key``."""
        if key not in self.keys:
            raise DatasetFormatError(f"{self.source}: no metadata key {key!r} (keys: {', '.join(self.keys)})")
        return self.values[self.keys.index(key)]

    def columns(self, key: str) -> np.ndarray:
        """(n_columns,) bool: the columns whose ``key`` value is 1 (bdpy's ``select('<key> = 1')``)."""
        return self.metadata(key) == 1

    def select(self, key: str) -> np.ndarray:
        """(n_samples, n_selected) the dataset columns marked by ``key``."""
        return self.dataset[:, self.columns(key)]

    def label_column(self, key: str) -> np.ndarray:
        """(n_samples,) the single dataset column marked by ``key`` (a per-sample label such as ``Run``)."""
        selected = self.select(key)
        if selected.shape[1] != 1:
            raise DatasetFormatError(f"{self.source}: label {key!r} should mark one column, it marks "
                                     f"{selected.shape[1]}")
        return selected[:, 0]


def read_bdata(path: str | os.PathLike) -> BData:
    """Read and check a BData HDF5 file (shapes of dataset, keys, descriptions and values agree)."""
    path = Path(path)
    source = str(path)
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise DatasetFormatError(f"{path}: not a readable HDF5 file ({error})") from error
    with handle:
        dataset_name = "dataset" if "dataset" in handle else "dataSet" if "dataSet" in handle else None
        metadata_name = "metadata" if "metadata" in handle else "metaData" if "metaData" in handle else None
        if dataset_name is None or metadata_name is None:
            raise DatasetFormatError(f"{path}: not a BData file: expected /dataset and /metadata/{{key, description, "
                                     f"value}}, found {sorted(handle)}")
        metadata = handle[metadata_name]
        missing = [name for name in ("key", "description", "value") if name not in metadata]
        if missing:
            raise DatasetFormatError(f"{path}: /{metadata_name} lacks {', '.join(missing)}")
        dataset = np.asarray(handle[dataset_name], dtype=np.float64)
        keys = tuple(_text(key) for key in metadata["key"][()])
        descriptions = tuple(_text(text) for text in metadata["description"][()])
        values = np.asarray(metadata["value"], dtype=np.float64)
        vmap = {_text(key): {float(label): _text(group[label][()]) for label in group}
                for key, group in handle["vmap"].items()} if "vmap" in handle else {}
    if dataset.ndim != 2:
        raise DatasetFormatError(f"{path}: /{dataset_name} should be 2-D (samples x columns), found {dataset.shape}")
    if values.shape != (len(keys), dataset.shape[1]):
        raise DatasetFormatError(f"{path}: /{metadata_name}/value has shape {values.shape}, expected "
                                 f"({len(keys)} keys, {dataset.shape[1]} dataset columns)")
    if len(descriptions) != len(keys):
        raise DatasetFormatError(f"{path}: {len(keys)} metadata keys but {len(descriptions)} descriptions")
    if len(set(keys)) != len(keys):
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        raise DatasetFormatError(f"{path}: duplicate metadata keys {duplicates}")
    return BData(source=source, dataset=dataset, keys=keys, descriptions=descriptions, values=values, vmap=vmap)


def write_bdata(path: str | os.PathLike, dataset: np.ndarray, keys: Sequence[str], descriptions: Sequence[str],
                values: np.ndarray, vmap: Mapping[str, Mapping[float, str]] | None = None) -> None:
    """Write a BData file the way ``bdpy.BData.save`` does (variable-length byte strings, ``/vmap/<key>/<float>``).
    ``dataset``: (n_samples, n_columns); ``values``: (n_keys, n_columns)."""
    if values.shape != (len(keys), dataset.shape[1]) or len(descriptions) != len(keys):
        raise ValueError(f"values {values.shape} must be (n_keys={len(keys)}, n_columns={dataset.shape[1]}) and "
                         f"descriptions one per key")
    strings = h5py.vlen_dtype(bytes)
    with h5py.File(path, "w") as handle:
        handle.create_dataset("dataset", data=np.asarray(dataset, dtype=np.float64))
        metadata = handle.create_group("metadata")
        metadata.create_dataset("key", data=np.array([k.encode() for k in keys], dtype=object), dtype=strings)
        metadata.create_dataset("description", data=np.array([d.encode() for d in descriptions], dtype=object),
                                dtype=strings)
        metadata.create_dataset("value", data=np.asarray(values, dtype=np.float64))
        group = handle.create_group("vmap")
        for key, labels in (vmap or {}).items():
            for number, label in labels.items():
                group.create_dataset(f"{key}/{float(number)}", data=label.encode(), dtype=strings)
