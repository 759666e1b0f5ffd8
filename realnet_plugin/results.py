"""Turning Brain-Score ``Score`` objects into terminal tables, JSON and netCDF files."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from model_registry.atomic import atomic_path


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


def score_summary(result) -> str:
    """A small aligned table: model, benchmark, score, raw, ceiling (where present)."""
    rows = [("model", result.attrs.get("model_identifier", "?")),
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


def write_netcdf(result, path: str | Path) -> Path:
    """Write the score with its array attributes as variables of one netCDF file (atomically)."""
    import xarray as xr

    variables = {"score": xr.DataArray(float(result))}
    scalars = {}
    for key, value in result.attrs.items():
        if hasattr(value, "dims") and hasattr(value, "values"):
            array = xr.DataArray(np.asarray(value.values), dims=[f"{key}_{d}" for d in value.dims])
            variables[key] = array
        elif isinstance(value, (int, float, str, np.floating, np.integer)):
            scalars[key] = value.item() if hasattr(value, "item") else value
    dataset = xr.Dataset(variables, attrs={k: str(v) if isinstance(v, str) else v for k, v in scalars.items()})
    with atomic_path(path, suffix=".nc") as tmp:
        dataset.to_netcdf(tmp)
    return Path(path)
