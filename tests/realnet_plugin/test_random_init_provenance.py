"""A random-initialisation score says so everywhere: ``attrs['pretrained']`` / ``attrs['seed']`` in the Score (CLI
and API), the JSON, CSV and netCDF outputs, and ``(random init, seed N)`` in figure titles. On the real
Kriegeskorte 2008 human-IT RDMs with a small registered network."""
from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from torch import nn

from model_registry import Preprocessing, list_models, register_model
from realnet_plugin.api import score
from realnet_plugin.cli import main
from realnet_plugin.plots import draw_roi_layers
from realnet_plugin.results import model_label, read_netcdf

MODEL = "test_provenance_net"
BENCHMARK = "kriegeskorte2008-hit-rsa"


@pytest.fixture
def k92(tmp_path, kriegeskorte2008_dir, monkeypatch):
    root = tmp_path / "data"
    shutil.copytree(kriegeskorte2008_dir, root / "kriegeskorte2008")
    monkeypatch.setenv("REALNET_DATA_DIR", str(root))
    if MODEL not in list_models(MODEL):
        register_model(MODEL, family="test", layers=("1",), region_layer_map={"IT": "1"},
                       preprocessing=Preprocessing(image_size=32))(
            lambda pretrained: nn.Sequential(nn.Conv2d(3, 4, 5, stride=4), nn.ReLU()))
    return root


def test_cli_outputs_record_random_init_and_seed(k92, tmp_path, capsys):
    out = {suffix: tmp_path / f"k.{suffix}" for suffix in ("json", "csv", "nc")}
    assert main(["score", MODEL, BENCHMARK, "--random-weights", "--seed", "3", "--option", "n_bootstrap=0",
                 "--json", str(out["json"]), "--csv", str(out["csv"]), "--netcdf", str(out["nc"])]) == 0
    assert f"{MODEL} (random init, seed 3)" in capsys.readouterr().out  # the printed table
    written = json.loads(out["json"].read_text())
    assert (written["pretrained"], written["seed"]) == (False, 3)
    table = pd.read_csv(out["csv"])
    assert set(table["pretrained"]) == {False} and set(table["seed"]) == {3}
    back = read_netcdf(out["nc"])
    assert back.attrs["pretrained"] is False and back.attrs["seed"] == 3
    figure = draw_roi_layers(written)
    titles = [axis.get_title() for axis in figure.axes]
    assert any(title.startswith(f"{MODEL} (random init, seed 3) on {BENCHMARK}") for title in titles), titles


def test_api_records_pretrained_and_seed(k92):
    random = score(MODEL, BENCHMARK, model_options={"pretrained": False, "seed": 5}, n_bootstrap=0)
    assert (random.attrs["pretrained"], random.attrs["seed"]) == (False, 5)
    trained = score(MODEL, BENCHMARK, n_bootstrap=0)
    assert (trained.attrs["pretrained"], trained.attrs["seed"]) == (True, None)
    assert model_label(trained.attrs) == MODEL
    assert model_label({"model_identifier": "m", "pretrained": False, "seed": None}) == "m (random init, unseeded)"
