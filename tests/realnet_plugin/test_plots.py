"""Figures: EEG time courses, model-vs-model improvement, RDM heatmaps, ROI x layer bars; PNG and PDF."""
from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from brainscore_core.metrics import Score

from realnet_plugin.plots import plot_improvement, plot_rdm, plot_roi_layers, plot_time_course
from realnet_plugin.results import score_to_dict

TIMES = np.round(np.arange(-0.2, 0.8, 0.01), 2)


def eeg_score(shift: float, model: str) -> Score:
    rng = np.random.default_rng(0)
    bump = np.exp(-((TIMES - 0.15) ** 2) / (2 * 0.05**2))
    similarity = bump[None, None] * np.array([0.4, 0.2])[None, :, None] + shift + rng.normal(0, 0.01, (4, 2, 100))
    result = Score(0.5)
    result.attrs.update({
        "similarity": xr.DataArray(similarity, dims=("subject", "layer", "time"),
                                   coords={"subject": [1, 2, 3, 4], "layer": ["V1", "IT"], "time": TIMES}),
        "ceiling_lower": xr.DataArray(bump * 0.8, dims="time", coords={"time": TIMES}),
        "ceiling_upper": xr.DataArray(bump * 0.9 + 0.05, dims="time", coords={"time": TIMES}),
        "clusters": {"V1": [{"start": 0.05, "end": 0.25, "mass": 40.0, "p": 0.01}]},
        "best_layer": "V1", "model_identifier": model, "comparison": "spearman",
    })
    return result


@pytest.mark.parametrize("suffix,magic", [(".png", b"\x89PNG"), (".pdf", b"%PDF")])
def test_time_course_from_a_score_and_from_its_json(tmp_path, suffix, magic):
    result = eeg_score(0.0, "cornet_s")
    direct = plot_time_course(result, tmp_path / f"direct{suffix}")
    from_json = plot_time_course(json.loads(json.dumps(score_to_dict(result))), tmp_path / f"json{suffix}")
    for path in (direct, from_json):
        assert path.read_bytes()[:4] == magic and path.stat().st_size > 5000


def test_improvement_rdm_and_roi_figures(tmp_path):
    assert plot_improvement(eeg_score(0.05, "realnet_s01_b100"), eeg_score(0.0, "cornet_s"),
                            tmp_path / "improvement.png").stat().st_size > 5000
    with pytest.raises(ValueError, match="layer 'V9' is not among"):
        plot_improvement(eeg_score(0.05, "a"), eeg_score(0.0, "b"), tmp_path / "x.png", layer="V9")
    rdm = np.random.default_rng(1).random(45)
    assert plot_rdm(rdm, tmp_path / "rdm.pdf", labels=[f"img{i}" for i in range(10)]).stat().st_size > 3000
    roi = Score(0.7)
    roi.attrs.update({
        "similarity": xr.DataArray(np.random.default_rng(2).random((2, 3, 4)), dims=("roi", "layer", "subject"),
                                   coords={"roi": ["V1", "hIT"], "layer": ["a", "b", "c"], "subject": list("wxyz")}),
        "ceiling_lower": xr.DataArray([0.5, 0.4], dims="roi", coords={"roi": ["V1", "hIT"]}),
        "method": "spearman", "dataset": "test"})
    assert plot_roi_layers(roi, tmp_path / "roi.png").stat().st_size > 5000
    with pytest.raises(ValueError, match="must end in .png or .pdf"):
        plot_rdm(rdm, tmp_path / "rdm.svg")
