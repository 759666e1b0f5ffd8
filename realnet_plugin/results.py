"""Turning Brain-Score ``Score`` objects into terminal tables, JSON, netCDF (lossless), CSV and pandas tables."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from model_registry.storage.atomic import atomic_path


def _plain(value):
    """JSON-friendly form of score attributes (numbers, strings, small arrays, nested Scores)."""
    if hasattr(value, "values") and hasattr(value, "dims"):
        return {"dims": list(value.dims), "values": np.asarray(value.values).tolist(),
                "coords": {k: np.asarray(v.values).tolist() for k, v in value.coords.items()}}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


def score_to_dict(result) -> dict:
    """The score's scalar plus every attribute, JSON-ready."""
    return {"score": float(result), **{key: _plain(value) for key, value in result.attrs.items()}}


def model_label(attrs: dict, model: str | None = None) -> str:
    """The model's name for titles and tables: ``attrs['model_identifier']`` (or ``model``), followed by
    ``(random init, seed N)`` (or ``(random init, unseeded)``) when ``attrs['pretrained']`` is false."""
    name = str(model or attrs.get("model_identifier") or "unnamed model")
    if attrs.get("pretrained") is False or str(attrs.get("pretrained")).lower() == "false":
        seed = attrs.get("seed")
        return f"{name} (random init, {'unseeded' if seed is None else f'seed {int(seed)}'})"
    return name


def score_summary(result) -> str:
    """A small aligned table: model, benchmark, score, raw, ceiling (where present)."""
    rows = [("model", model_label(result.attrs, result.attrs.get("model_identifier", "?"))),
            ("benchmark", result.attrs.get("benchmark_identifier", "?")),
            ("score", f"{float(result):.4f}")]
    for key in ("raw", "ceiling", "error"):
        if key in result.attrs:
            value = result.attrs[key]
            try:
                rows.append((key, f"{float(np.asarray(getattr(value, 'values', value)).ravel()[0]):.4f}"))
            except (TypeError, ValueError, IndexError):
                continue
    for key in ("best_layer", "peak_time", "peak_layer"):
        if key in result.attrs:
            rows.append((key, str(_plain(result.attrs[key]))))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def write_json(result, path: str | Path) -> Path:
    """Write :func:`score_to_dict` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(score_to_dict(result), indent=2))
    return Path(path)


_ATTRS_KEY = "realnet_attrs"  # global netCDF attribute: JSON of every non-array score attribute
_SEP = "__"  # variable ``similarity``'s dimension ``time`` is stored as ``similarity__time``


def _json_attr(value):
    """JSON-ready form of a non-array attribute; tuples become lists, numpy scalars Python numbers."""
    return _plain(value)


def _is_array(value) -> bool:
    return hasattr(value, "dims") and hasattr(value, "values") and hasattr(value, "coords")


def _flatten_multiindex(array):
    """``array`` with every MultiIndex dimension reset to plain coordinates, and ``{dim: [levels]}``."""
    import pandas as pd

    levels = {}
    for dim in array.dims:
        if dim in array.indexes and isinstance(array.indexes[dim], pd.MultiIndex):
            levels[dim] = list(array.indexes[dim].names)
    if levels:
        array = array.reset_index(list(levels))
    return array, levels


def _array_variables(key: str, array) -> tuple[dict, dict]:
    """The netCDF variable of one array attribute (``key``) and its coordinates, with prefixed names."""
    import xarray as xr

    array, multi = _flatten_multiindex(array)
    dims = [f"{key}{_SEP}{d}" for d in array.dims]
    coords, names = {}, {}
    for name, coord in array.coords.items():
        new = f"{key}{_SEP}{name}"
        names[new] = str(name)
        values = np.asarray(coord.values)
        if values.dtype == object:
            values = values.astype(str)
        coords[new] = ([f"{key}{_SEP}{d}" for d in coord.dims], values)
    meta = {"dims": [str(d) for d in array.dims], "coords": names, "multiindex": multi,
            "class": type(array).__name__, "attrs": {k: _json_attr(v) for k, v in array.attrs.items()}}
    variable = xr.DataArray(np.asarray(array.values), dims=dims, coords=coords,
                            attrs={"realnet_meta": json.dumps(meta)})
    return {key: variable}, meta


def score_to_dataset(result):
    """One ``xarray.Dataset`` holding the score and every attribute, losslessly for :func:`dataset_to_score`.

    Array attributes (``similarity`` with its ``subject``/``layer``/``time`` coordinates, ``raw``, ``ceiling`` ...)
    become variables whose dimensions and coordinates are prefixed with the attribute's name
    (``similarity__time``), so attributes with different ``layer`` lists never collide; their own attrs, class
    (``Score``) and MultiIndex levels are kept in the variable attribute ``realnet_meta`` (JSON). Every other
    attribute (dicts such as ``clusters`` or ``best_layer`` per ROI, lists, strings, numbers, booleans, None) is
    kept as JSON in the global attribute ``realnet_attrs``; strings and numbers are also plain global attributes
    for netCDF viewers.
    """
    import xarray as xr

    score_var, _ = _array_variables("score", result.copy())
    variables = dict(score_var)
    others, plain = {}, {}
    for key, value in result.attrs.items():
        key = str(key)
        if _is_array(value):
            if key == "score":
                raise ValueError("a score attribute named 'score' would overwrite the score itself")
            variables.update(_array_variables(key, value)[0])
        else:
            others[key] = _json_attr(value)
            if isinstance(value, (str, int, float, np.floating, np.integer)) and not isinstance(value, bool):
                plain[key] = value.item() if hasattr(value, "item") else value
    return xr.Dataset(variables, attrs={**plain, _ATTRS_KEY: json.dumps(others)})


def _restore_array(variable):
    import xarray as xr
    from brainscore_core.metrics import Score

    meta = json.loads(variable.attrs["realnet_meta"])
    prefix = {d: meta["dims"][i] for i, d in enumerate(variable.dims)}
    coords = {}
    for new, old in meta["coords"].items():
        coord = variable.coords[new]
        coords[old] = ([prefix[d] for d in coord.dims], np.asarray(coord.values))
    cls = Score if meta["class"] == "Score" else xr.DataArray
    array = cls(np.asarray(variable.values), dims=meta["dims"], coords=coords, attrs=meta["attrs"])
    for dim, levels in meta["multiindex"].items():
        array = array.set_index({dim: levels})
    return array


def dataset_to_score(dataset):
    """The Brain-Score ``Score`` that :func:`score_to_dataset` wrote, with every coordinate and attribute."""
    if "score" not in dataset.variables or _ATTRS_KEY not in dataset.attrs:
        raise ValueError(f"not a realnet score file: expected a 'score' variable and a {_ATTRS_KEY!r} attribute, "
                         f"found variables {sorted(dataset.data_vars)}")
    result = _restore_array(dataset["score"])
    attrs = {}
    for key in dataset.data_vars:
        if key != "score":
            attrs[str(key)] = _restore_array(dataset[key])
    attrs.update(json.loads(dataset.attrs[_ATTRS_KEY]))
    order = list(json.loads(dataset.attrs.get("realnet_order", "[]"))) or list(attrs)
    result.attrs = {key: attrs[key] for key in order if key in attrs}
    return result


def write_netcdf(result, path: str | Path) -> Path:
    """Write the score with every attribute (arrays with their coordinates, dicts, lists) as one netCDF file,
    atomically; :func:`read_netcdf` gives the same ``Score`` back."""
    dataset = score_to_dataset(result)
    dataset.attrs["realnet_order"] = json.dumps([str(k) for k in result.attrs])
    with atomic_path(path, suffix=".nc") as tmp:
        dataset.to_netcdf(tmp)
    return Path(path)


def read_netcdf(path: str | Path):
    """The ``Score`` in a file written by :func:`write_netcdf`; ``ValueError`` naming the file otherwise."""
    import xarray as xr

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"score file not found: {path}")
    try:
        with xr.open_dataset(path) as dataset:
            dataset.load()
            return dataset_to_score(dataset)
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(f"{path} is not a score netCDF written by realnet ({error})") from error


# --- long tables ------------------------------------------------------------------------------------------------
TABLE_COLUMNS = ("model", "pretrained", "seed", "benchmark", "subject", "layer", "time", "roi", "value")


def score_to_dataframe(result, variable: str | None = None):
    """The score in long format, one row per value: ``model, pretrained, seed, benchmark, subject, layer, time, roi,
    value`` (``pretrained``/``seed`` as the score records them, empty when it does not)
    (``time`` in seconds after onset; a column is empty where the score has no such dimension) and ``variable``
    naming the attribute the value comes from.

    By default every array attribute whose dimensions are among subject / layer / time / roi (``similarity``,
    ``ceiling_lower``, ``roi_scores`` ...) plus the scalar ``score``, ``raw`` and ``ceiling``; ``variable`` picks
    one. Raises ``ValueError`` naming the attribute for one with other dimensions (asked for by name) or an
    unknown name.
    """
    import pandas as pd

    model = result.attrs.get("model_identifier")
    benchmark = result.attrs.get("benchmark_identifier")
    arrays = {"score": result, **{k: v for k, v in result.attrs.items() if _is_array(v)}}
    if variable is not None:
        if variable not in arrays:
            raise ValueError(f"score has no array attribute {variable!r}; it has {sorted(arrays)}")
        arrays = {variable: arrays[variable]}
    frames = []
    known = {"subject", "layer", "time", "roi"}
    for name, array in arrays.items():
        if not set(array.dims) <= known:
            if variable is not None:
                raise ValueError(f"attribute {name!r} has dimensions {list(array.dims)}; a long table takes "
                                 f"{sorted(known)}")
            continue
        values = np.asarray(array.values, dtype=float)
        grids = np.meshgrid(*[np.asarray(array[d].values) for d in array.dims], indexing="ij") if array.dims else []
        frame = pd.DataFrame({"model": model, "pretrained": result.attrs.get("pretrained"),
                              "seed": result.attrs.get("seed"), "benchmark": benchmark, "variable": name,
                              **{d: g.ravel() for d, g in zip(array.dims, grids)}, "value": values.ravel()})
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    for column in TABLE_COLUMNS:
        if column not in table:
            table[column] = None
    return table[["model", "pretrained", "seed", "benchmark", "variable", "subject", "layer", "time", "roi", "value"]]


def write_csv(result, path: str | Path, variable: str | None = None) -> Path:
    """Write :func:`score_to_dataframe` as CSV (atomically)."""
    table = score_to_dataframe(result, variable)
    with atomic_path(path, suffix=".csv") as tmp:
        table.to_csv(tmp, index=False)
    return Path(path)
