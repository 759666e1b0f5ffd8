"""FGSM / PGD / accuracy curves: a pretrained EfficientNet-Lite0 on real photos, checked against torchattacks."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torchattacks
from PIL import Image
from scipy.integrate import trapezoid
from skimage import data
from torch import nn

from benchmarks.robustness.attacks import accuracy_curve, fgsm, pgd, robustness_auc
from model_registry.registry import get_spec

EPSILONS = (0.0, 1 / 255, 2 / 255, 4 / 255, 8 / 255)
PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")
PGD_STEPS = 5  # keeps the file fast on 2 CPU cores; the default is 10
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(scope="module")
def spec():
    import model_registry.efficientnet  # noqa: F401 (registers efficientnet_lite0)

    return get_spec("efficientnet_lite0")


@pytest.fixture(scope="module")
def model(spec) -> nn.Module:
    return spec.build(pretrained=True)


@pytest.fixture(scope="module")
def normalize(spec):
    return spec.preprocessing.normalize


@pytest.fixture(scope="module")
def pixels(spec) -> torch.Tensor:
    """Four scikit-image photos resized and centre-cropped to the model's input: (4, 3, 224, 224) in [0, 1]."""
    return torch.stack([spec.preprocessing.to_pixels(Image.fromarray(getattr(data, name)())) for name in PHOTOS])


@pytest.fixture(scope="module")
def clean_labels(model, pixels, normalize) -> torch.Tensor:
    with torch.no_grad():
        return model(normalize(pixels)).argmax(dim=-1)  # (4,)


@pytest.fixture(scope="module")
def fgsm_curve(model, pixels, normalize) -> np.ndarray:
    return accuracy_curve(model, pixels, None, EPSILONS, normalize=normalize, attack="fgsm", batch_size=4,
                          progress=False)


@pytest.fixture(scope="module")
def pgd_curve(model, pixels, normalize) -> np.ndarray:
    return accuracy_curve(model, pixels, None, EPSILONS, normalize=normalize, attack="pgd", steps=PGD_STEPS,
                          batch_size=4, progress=False)


class NormalizedModel(nn.Module):
    """``model(normalize(pixels))`` as one module, for torchattacks (which expects inputs in [0, 1])."""

    def __init__(self, model: nn.Module, normalize):
        super().__init__()
        self.model = model
        self.normalize = normalize

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model(self.normalize(pixels))


def tiny_model(seed: int = 0) -> nn.Module:
    """A 5-class conv net with BatchNorm, for fast checks: (N, 3, H, W) -> (N, 5)."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 6, 3), nn.BatchNorm2d(6), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(6, 5))


def tiny_batch(n_images: int = 6, size: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    pixels = torch.rand(n_images, 3, size, size, generator=generator)
    labels = torch.randint(0, 5, (n_images,), generator=generator)
    return pixels, labels


def identity(pixels: torch.Tensor) -> torch.Tensor:
    return pixels


def test_fgsm_matches_torchattacks(model, pixels, clean_labels, normalize):
    reference_model = NormalizedModel(model, normalize).eval()
    for epsilon in EPSILONS[1:]:
        ours = fgsm(model, pixels, clean_labels, epsilon, normalize=normalize)
        reference = torchattacks.FGSM(reference_model, eps=epsilon)(pixels, clean_labels)
        torch.testing.assert_close(ours, reference, atol=1e-6, rtol=0)
        assert float((ours - pixels).abs().max()) == pytest.approx(epsilon, abs=1e-6)  # the attack did move


def test_pgd_without_random_start_matches_torchattacks(model, pixels, clean_labels, normalize):
    reference_model = NormalizedModel(model, normalize).eval()
    epsilon, steps = 2 / 255, 3
    ours = pgd(model, pixels, clean_labels, epsilon, steps=steps, step_size=epsilon / 2, random_start=False,
               normalize=normalize)
    reference = torchattacks.PGD(reference_model, eps=epsilon, alpha=epsilon / 2, steps=steps,
                                 random_start=False)(pixels, clean_labels)
    torch.testing.assert_close(ours, reference, atol=1e-6, rtol=0)


def test_accuracy_falls_monotonically_with_epsilon(pgd_curve, fgsm_curve):
    for curve in (pgd_curve, fgsm_curve):
        assert curve.shape == (len(EPSILONS),)
        assert curve[0] == 1.0  # labels are the clean predictions
        assert curve[-1] < curve[0]
    assert np.all(np.diff(pgd_curve) <= 0), pgd_curve


def test_pgd_at_least_as_strong_as_fgsm(pgd_curve, fgsm_curve):
    assert np.all(pgd_curve <= fgsm_curve), (pgd_curve, fgsm_curve)
    assert robustness_auc(EPSILONS, pgd_curve) <= robustness_auc(EPSILONS, fgsm_curve)


def test_curve_counts_flipped_predictions_independent_of_batch_size(model, pixels, clean_labels, normalize,
                                                                    fgsm_curve):
    epsilon = EPSILONS[2]
    adversarial = fgsm(model, pixels, clean_labels, epsilon, normalize=normalize)
    with torch.no_grad():
        expected = float((model(normalize(adversarial)).argmax(dim=-1) == clean_labels).float().mean())
    assert fgsm_curve[2] == pytest.approx(expected)
    in_threes = accuracy_curve(model, pixels, clean_labels, [epsilon], normalize=normalize, batch_size=3,
                               progress=False)
    assert in_threes[0] == pytest.approx(expected)


def test_adversarial_pixels_stay_in_ball_and_unit_range(model, pixels, clean_labels, normalize):
    epsilon = EPSILONS[3]
    for adversarial in (fgsm(model, pixels, clean_labels, epsilon, normalize=normalize),
                        pgd(model, pixels, clean_labels, epsilon, steps=2, normalize=normalize)):
        assert adversarial.shape == pixels.shape and not adversarial.requires_grad
        assert float(adversarial.min()) >= 0.0 and float(adversarial.max()) <= 1.0
        assert float((adversarial - pixels).abs().max()) <= epsilon + 1e-6


@pytest.mark.parametrize("device", DEVICES)
def test_pgd_is_seeded_and_leaves_the_model_alone(device):
    model = tiny_model().to(device).train()
    running_mean = model[1].running_mean.clone()
    pixels, labels = (tensor.to(device) for tensor in tiny_batch())
    first = pgd(model, pixels, labels, 0.1, steps=3, seed=7, normalize=identity)
    again = pgd(model, pixels, labels, 0.1, steps=3, seed=7, normalize=identity)
    other = pgd(model, pixels, labels, 0.1, steps=3, seed=8, normalize=identity)
    assert first.device.type == device
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert model.training  # mode restored
    assert torch.equal(model[1].running_mean, running_mean)  # attacked in eval mode: BN statistics untouched
    assert all(parameter.grad is None for parameter in model.parameters())
    no_start = pgd(model, pixels, labels, 0.1, steps=1, step_size=0.1, random_start=False, normalize=identity)
    torch.testing.assert_close(no_start, fgsm(model, pixels, labels, 0.1, normalize=identity))


def test_epsilon_zero_returns_the_clean_pixels():
    model = tiny_model()
    pixels, labels = tiny_batch()
    assert torch.equal(fgsm(model, pixels, labels, 0.0, normalize=identity), pixels)
    assert torch.equal(pgd(model, pixels, labels, 0.0, normalize=identity), pixels)


def test_bad_inputs_are_named():
    model = tiny_model()
    pixels, labels = tiny_batch()
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\).*\(3, 12, 12\)"):
        fgsm(model, pixels[0], labels, 0.1, normalize=identity)
    with pytest.raises(ValueError, match=r"\[0, 1\].*got range \[-0\.99"):
        fgsm(model, pixels * 2 - 1, labels, 0.1, normalize=identity)
    with pytest.raises(ValueError, match="NaN"):
        fgsm(model, pixels.clone().index_fill_(0, torch.tensor([0]), float("nan")), labels, 0.1,
             normalize=identity)
    with pytest.raises(ValueError, match=r"labels .* shape \(6,\), got \(5,\)"):
        pgd(model, pixels, labels[:5], 0.1, normalize=identity)
    with pytest.raises(ValueError, match="epsilon must be .* got -0.1"):
        pgd(model, pixels, labels, -0.1, normalize=identity)
    with pytest.raises(ValueError, match="attack must be one of"):
        accuracy_curve(model, pixels, labels, [0.0], normalize=identity, attack="cw", progress=False)


def test_robustness_auc_formula():
    epsilons, accuracies = [0.0, 1.0, 3.0], [0.8, 0.4, 0.2]
    # trapezoid: (0.8 + 0.4) / 2 * 1 + (0.4 + 0.2) / 2 * 2 = 1.2; normalised by 0.8 * 3
    assert robustness_auc(epsilons, accuracies) == pytest.approx(1.2 / 2.4)
    assert robustness_auc(epsilons, accuracies) == pytest.approx(trapezoid(accuracies, epsilons) / (0.8 * 3))
    assert robustness_auc([0, 0.5, 1], [0.6, 0.6, 0.6]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="start at 0 and increase"):
        robustness_auc([0.1, 0.2], [1.0, 0.5])
    with pytest.raises(ValueError, match="clean accuracy"):
        robustness_auc([0, 1], [0.0, 0.0])
    with pytest.raises(ValueError, match="same length"):
        robustness_auc([0, 1, 2], [1.0, 0.5])
    with pytest.raises(ValueError, match="NaN"):
        robustness_auc([0, 1], [1.0, float("nan")])
