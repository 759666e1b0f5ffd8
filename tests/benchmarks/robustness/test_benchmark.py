"""The fgsm-/pgd-robustness benchmarks on real photos with the pretrained EfficientNet-Lite0."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage import data

from benchmarks import load_benchmark
from benchmarks.datasets.image_sets import folder_images, load_image_set
from model_registry import load_model
from realnet_plugin.plots import plot_robustness_curves

EPSILONS = (0.0, 1 / 255, 4 / 255)


@pytest.fixture(scope="module")
def pretrained():
    return load_model("efficientnet_lite0", progress=False)


def test_pretrained_scores_and_curve(pretrained):
    result = load_benchmark("pgd-robustness", images="builtin", epsilons=EPSILONS, steps=3, progress=False)(pretrained)
    accuracies = result.attrs["accuracies"]
    assert accuracies[0] == 1.0 and accuracies[-1] < accuracies[0]
    assert np.all(np.diff(accuracies) <= 0)
    assert 0 <= float(result) < 1 and result.attrs["labels"] == "clean predictions"
    assert result.attrs["n_images"] == 4


def test_imagenet_labels_from_a_folder(pretrained, tmp_path, monkeypatch):
    folder = tmp_path / "data" / "robustness"
    folder.mkdir(parents=True)
    Image.fromarray(data.chelsea()).save(folder / "cat.jpg")
    Image.fromarray(data.coffee()).save(folder / "mug.jpg")
    (folder / "labels.csv").write_text("file,imagenet_index\ncat.jpg,281\nmug.jpg,967\n")
    monkeypatch.setenv("REALNET_DATA_DIR", str(tmp_path / "data"))
    assert load_image_set("auto").labels == (281, 967)
    result = load_benchmark("fgsm-robustness", epsilons=EPSILONS, progress=False)(pretrained)
    assert result.attrs["labels"] == "imagenet" and result.attrs["image_set"] == "robustness"
    assert result.attrs["clean_accuracy"] == 0.5  # espresso is right; chelsea's top-1 is tiger cat, not 281
    (folder / "labels.csv").write_text("file,imagenet_index\ncat.jpg,281\n")
    with pytest.raises(ValueError, match="no imagenet_index for \\['mug.jpg'\\]"):
        folder_images(folder)


def test_empty_folder_and_blackbox_models_get_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no images"):
        folder_images(tmp_path)
    with pytest.raises(TypeError, match="white-box"):
        load_benchmark("fgsm-robustness", progress=False)(object())


def test_curves_of_several_models_plot(pretrained, tmp_path):
    random_init = load_model("efficientnet_lite0", pretrained=False, progress=False)
    benchmark = load_benchmark("fgsm-robustness", images="builtin", epsilons=EPSILONS, progress=False)
    results = {"pretrained": benchmark(pretrained), "random init": benchmark(random_init)}
    for suffix in (".png", ".pdf"):
        path = plot_robustness_curves(results, tmp_path / f"curves{suffix}")
        assert path.stat().st_size > 5000
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "curves.pdf").read_bytes()[:4] == b"%PDF"
