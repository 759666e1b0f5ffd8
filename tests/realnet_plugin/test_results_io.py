"""Score files: netCDF keeps every coordinate and attribute, ``realnet plot`` reads it, and the long table."""
import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from brainscore_core.metrics import Score

from benchmarks.datasets.things_eeg2.synth import RandomConvFeatures, generate_things_eeg2
from model_registry import Preprocessing, list_models, register_model
from realnet_plugin import score
from realnet_plugin.cli import main
from realnet_plugin.results import (
    read_netcdf,
    score_to_dataframe,
    score_to_dict,
    write_csv,
    write_json,
    write_netcdf,
)

MODEL = "test_results_io_net"


@pytest.fixture(scope="module")
def eeg_score(tmp_path_factory) -> Score:
    """A real ``things-eeg-rsa-correlation`` score (6 generated subjects: clusters, ceilings, similarity)."""
    root = generate_things_eeg2(tmp_path_factory.mktemp("io") / "eeg", n_subjects=6, n_test_images=12,
                                n_test_repetitions=4, n_train_concepts=2, n_train_per_concept=2,
                                n_train_repetitions=2, image_size=32, peak_time=0.15, noise=0.5, progress=False)
    if MODEL not in list_models(MODEL):
        register_model(MODEL, family="test", layers=("1", "3", "7"), region_layer_map={"IT": "7"},
                       preprocessing=Preprocessing(image_size=64, mean=(0.5,) * 3, std=(1.0,) * 3))(
            lambda pretrained: RandomConvFeatures(seed=0).network)
    return score(MODEL, "things-eeg-rsa-correlation", root=str(root), n_permutations=100)


def _hand_score() -> Score:
    """Every kind of attribute: Scores, labelled arrays (string, float, bool coords; a MultiIndex), nested dicts."""
    result = Score(0.42)
    similarity = xr.DataArray(np.arange(12, dtype=float).reshape(2, 2, 3), dims=("subject", "layer", "time"),
                              coords={"subject": [1, 2], "layer": ["V1", "IT"], "time": [-0.1, 0.0, 0.1],
                                      "layer_depth": ("layer", [1, 4])})
    presentation = pd.MultiIndex.from_arrays([["a", "b", "c"], [0, 1, 1]], names=["stimulus_id", "repetition"])
    per_image = xr.DataArray(np.array([0.5, np.nan, 1.5]), dims="presentation", coords={"presentation": presentation},
                             attrs={"unit": "r", "note": ["x", 1]})
    result.attrs.update({
        "raw": Score(0.21), "ceiling": Score(0.5), "similarity": similarity, "per_image": per_image,
        "defined": xr.DataArray(np.array([True, False, True]), dims="time", coords={"time": [-0.1, 0.0, 0.1]}),
        "roi_scores": xr.DataArray([0.3, 0.6], dims="roi", coords={"roi": ["V1", "LOC"]}),
        "clusters": {"IT": [{"start": 0.0, "end": 0.1, "mass": 3.5, "p": 0.01}]},
        "best_layer": {"V1": "V1", "LOC": "IT"}, "window": [-0.1, 0.5], "ceiled": True, "empty": None,
        "method": "correlation", "n_layers": 2, "model_identifier": "m", "benchmark_identifier": "b",
    })
    return result


def test_netcdf_keeps_every_coordinate_and_attribute(tmp_path):
    original = _hand_score()
    back = read_netcdf(write_netcdf(original, tmp_path / "score.nc"))
    assert isinstance(back, Score) and float(back) == 0.42
    assert list(back.attrs) == list(original.attrs)
    for key, value in original.attrs.items():
        if isinstance(value, xr.DataArray):
            xr.testing.assert_identical(back.attrs[key], value)
            assert type(back.attrs[key]) is type(value), key
        else:
            assert back.attrs[key] == value, key
    assert back.attrs["per_image"].attrs == {"unit": "r", "note": ["x", 1]}
    assert back.attrs["similarity"].sel(subject=2, layer="IT", time=0.1).item() == 11.0
    with xr.open_dataset(tmp_path / "score.nc") as raw:  # plain netCDF viewers see the scalars too
        assert raw.attrs["method"] == "correlation" and raw.attrs["n_layers"] == 2


def test_real_eeg_score_round_trips_and_plots_the_same(tmp_path, eeg_score):
    write_netcdf(eeg_score, tmp_path / "eeg.nc")
    write_json(eeg_score, tmp_path / "eeg.json")
    back = read_netcdf(tmp_path / "eeg.nc")
    for key in ("similarity", "ceiling_lower", "ceiling_upper", "raw", "ceiling"):
        xr.testing.assert_identical(back.attrs[key], eeg_score.attrs[key])
    assert back.attrs["clusters"] == json.loads(json.dumps(eeg_score.attrs["clusters"]))
    assert score_to_dict(back) == json.loads((tmp_path / "eeg.json").read_text())  # the JSON path, a second path
    assert main(["plot", str(tmp_path / "eeg.nc"), "--out", str(tmp_path / "from_nc.png")]) == 0
    assert main(["plot", str(tmp_path / "eeg.json"), "--out", str(tmp_path / "from_json.png")]) == 0
    assert (tmp_path / "from_nc.png").read_bytes() == (tmp_path / "from_json.png").read_bytes()


def test_long_table(tmp_path, eeg_score):
    table = score_to_dataframe(_hand_score())
    assert list(table.columns) == ["model", "pretrained", "seed", "benchmark", "variable", "subject", "layer", "time",
                                   "roi", "value"]
    similarity = table[table.variable == "similarity"]
    assert len(similarity) == 12 and set(similarity.model) == {"m"} and set(similarity.benchmark) == {"b"}
    row = similarity[(similarity.subject == 2) & (similarity.layer == "IT") & (similarity.time == 0.1)]
    assert row.value.tolist() == [11.0]  # np.arange(12).reshape(2, 2, 3)[1, 1, 2]
    rois = table[table.variable == "roi_scores"].set_index("roi").value.to_dict()
    assert rois == {"V1": 0.3, "LOC": 0.6} and table[table.variable == "score"].value.tolist() == [0.42]
    assert "per_image" not in set(table.variable)  # a presentation dimension has no column
    with pytest.raises(ValueError, match="attribute 'per_image' has dimensions \\['presentation'\\]"):
        score_to_dataframe(_hand_score(), "per_image")

    path = write_csv(eeg_score, tmp_path / "eeg.csv")
    csv = pd.read_csv(path, dtype={"layer": str})
    sim = eeg_score.attrs["similarity"]
    rows = csv[csv.variable == "similarity"]
    assert len(rows) == sim.size
    means = rows.groupby(["layer", "time"]).value.mean()
    expected = sim.mean("subject")  # computed by xarray, not by the table code
    for layer in sim["layer"].values:
        np.testing.assert_allclose(means.loc[str(layer)].to_numpy(), expected.sel(layer=layer).values, atol=1e-12)
