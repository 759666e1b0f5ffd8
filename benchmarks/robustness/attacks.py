"""White-box L-infinity attacks (FGSM, PGD) in pixel space, and accuracy-vs-epsilon curves.

Perturbations live in pixel space, ``(N, 3, H, W)`` in [0, 1], before the model's normalisation: ``normalize`` maps
pixels to what the network eats, and the gradient flows through it. The loss is the cross-entropy of the logits
(summed over the batch, so each image's gradient is that of its own loss and results do not depend on the batch
size). Adversarial images are clipped to the epsilon ball around the clean image and to [0, 1].

The model is attacked in eval mode (its mode is restored afterwards); gradients are taken only with respect to the
images, so no ``.grad`` is ever written on the parameters. Everything runs on the device of the inputs.
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

Normalize = Callable[[torch.Tensor], torch.Tensor]
ATTACKS = ("fgsm", "pgd")


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode for the block, then restore its previous mode."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def _check_pixels(pixels: torch.Tensor) -> None:
    if not isinstance(pixels, torch.Tensor) or pixels.ndim != 4 or pixels.shape[1] != 3:
        shape = tuple(pixels.shape) if isinstance(pixels, torch.Tensor) else type(pixels).__name__
        raise ValueError(f"pixels must be a (N, 3, H, W) tensor, got {shape}")
    if not pixels.is_floating_point():
        raise ValueError(f"pixels must be floating point in [0, 1], got dtype {pixels.dtype}")
    if torch.isnan(pixels).any():
        raise ValueError("pixels contain NaN")
    low, high = float(pixels.min()), float(pixels.max())
    if low < 0.0 or high > 1.0:
        raise ValueError(f"pixels must lie in [0, 1] (before normalisation), got range [{low:.4g}, {high:.4g}]")


def _check_labels(labels: torch.Tensor, n_images: int) -> None:
    if not isinstance(labels, torch.Tensor) or labels.shape != (n_images,) or labels.is_floating_point():
        shape = tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise ValueError(f"labels must be an integer tensor of shape ({n_images},), got {shape}")


def _check_epsilon(epsilon: float) -> None:
    if not math.isfinite(epsilon) or epsilon < 0:
        raise ValueError(f"epsilon must be a finite number >= 0 (pixel units, e.g. 4/255), got {epsilon}")


def _check_inputs(pixels: torch.Tensor, labels: torch.Tensor, epsilon: float) -> None:
    _check_pixels(pixels)
    _check_labels(labels, pixels.shape[0])
    _check_epsilon(epsilon)


def _loss_gradient(model: nn.Module, adversarial: torch.Tensor, labels: torch.Tensor,
                   normalize: Normalize) -> torch.Tensor:
    """Gradient of the summed cross-entropy with respect to ``adversarial`` pixels: (N, 3, H, W)."""
    adversarial = adversarial.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(normalize(adversarial))  # (N, n_classes)
        loss = F.cross_entropy(logits, labels.to(logits.device), reduction="sum")
        (gradient,) = torch.autograd.grad(loss, adversarial)
    return gradient


def _project(adversarial: torch.Tensor, pixels: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Clip into the L-infinity ball of radius ``epsilon`` around ``pixels``, then into [0, 1]."""
    adversarial = torch.minimum(torch.maximum(adversarial, pixels - epsilon), pixels + epsilon)
    return adversarial.clamp(0.0, 1.0)


def fgsm(model: nn.Module, pixels: torch.Tensor, labels: torch.Tensor, epsilon: float, *,
         normalize: Normalize) -> torch.Tensor:
    """Fast gradient sign method (Goodfellow et al. 2015): ``clip(pixels + epsilon * sign(grad), 0, 1)``.

    ``pixels`` (N, 3, H, W) in [0, 1], ``labels`` (N,) class indices; returns adversarial pixels (N, 3, H, W).
    """
    _check_inputs(pixels, labels, epsilon)
    if epsilon == 0:
        return pixels.detach().clone()
    with _eval_mode(model):
        gradient = _loss_gradient(model, pixels, labels, normalize)
    return (pixels.detach() + epsilon * gradient.sign()).clamp(0.0, 1.0)


def pgd(model: nn.Module, pixels: torch.Tensor, labels: torch.Tensor, epsilon: float, steps: int = 10,
        step_size: float | None = None, random_start: bool = True, seed: int = 0, *,
        normalize: Normalize) -> torch.Tensor:
    """Projected gradient descent (Madry et al. 2018) on the L-infinity ball of radius ``epsilon``.

    Starts from a uniform random point in the ball (when ``random_start``; drawn on the CPU from a
    ``torch.Generator`` seeded with ``seed``, so results agree across devices), then takes ``steps`` signed-gradient
    steps of ``step_size`` (default ``2.5 * epsilon / steps``), projecting onto the ball and [0, 1] after each.
    ``pixels`` (N, 3, H, W) in [0, 1], ``labels`` (N,); returns adversarial pixels (N, 3, H, W).
    """
    _check_inputs(pixels, labels, epsilon)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    step_size = 2.5 * epsilon / steps if step_size is None else step_size
    if not math.isfinite(step_size) or step_size < 0:
        raise ValueError(f"step_size must be a finite number >= 0, got {step_size}")
    pixels = pixels.detach()
    if epsilon == 0:
        return pixels.clone()
    adversarial = pixels.clone()
    if random_start:
        generator = torch.Generator(device="cpu").manual_seed(seed)
        noise = torch.rand(pixels.shape, generator=generator, dtype=pixels.dtype)  # (N, 3, H, W) in [0, 1)
        adversarial = _project(pixels + (2 * noise.to(pixels.device) - 1) * epsilon, pixels, epsilon)
    with _eval_mode(model):
        for _ in range(steps):
            gradient = _loss_gradient(model, adversarial, labels, normalize)
            adversarial = _project(adversarial + step_size * gradient.sign(), pixels, epsilon)
    return adversarial


def _model_device(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def accuracy_curve(model: nn.Module, pixels: torch.Tensor, labels: torch.Tensor | None, epsilons: Sequence[float],
                   *, normalize: Normalize, attack: str = "fgsm", batch_size: int = 32, steps: int = 10,
                   seed: int = 0, progress: bool = True) -> np.ndarray:
    """Accuracy under attack at each epsilon: ``(n_epsilons,)`` floats in [0, 1].

    ``pixels`` (N, 3, H, W) in [0, 1] may stay on the CPU; batches of ``batch_size`` move to the model's device.
    ``labels`` (N,) are the true classes; ``None`` uses the model's own clean predictions (so accuracy at epsilon 0
    is 1 and the curve measures how fast predictions flip). ``attack`` is ``'fgsm'`` or ``'pgd'`` (``steps`` steps,
    batch ``b`` seeded with ``seed + b``).
    """
    if attack not in ATTACKS:
        raise ValueError(f"attack must be one of {ATTACKS}, got {attack!r}")
    epsilons = [float(epsilon) for epsilon in epsilons]
    if not epsilons:
        raise ValueError("epsilons is empty")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    _check_pixels(pixels)
    if labels is not None:
        _check_labels(labels, pixels.shape[0])
    for epsilon in epsilons:
        _check_epsilon(epsilon)
    device = _model_device(model)
    n_images = pixels.shape[0]
    correct = np.zeros(len(epsilons), dtype=np.int64)
    n_batches = math.ceil(n_images / batch_size)
    with _eval_mode(model), tqdm(total=n_batches * len(epsilons), desc=f"{attack} accuracy curve",
                                 disable=not progress, leave=False) as bar:
        for batch, start in enumerate(range(0, n_images, batch_size)):
            batch_pixels = pixels[start:start + batch_size].to(device)  # (B, 3, H, W)
            if labels is None:
                with torch.no_grad():
                    batch_labels = model(normalize(batch_pixels)).argmax(dim=-1)  # (B,)
            else:
                batch_labels = labels[start:start + batch_size].to(device)
            for index, epsilon in enumerate(epsilons):
                if attack == "fgsm":
                    adversarial = fgsm(model, batch_pixels, batch_labels, epsilon, normalize=normalize)
                else:
                    adversarial = pgd(model, batch_pixels, batch_labels, epsilon, steps=steps, seed=seed + batch,
                                      normalize=normalize)
                with torch.no_grad():
                    predictions = model(normalize(adversarial)).argmax(dim=-1)  # (B,)
                correct[index] += int((predictions == batch_labels).sum())
                bar.update(1)
    return correct / n_images


def robustness_auc(epsilons: Sequence[float], accuracies: Sequence[float]) -> float:
    """Area under accuracy-vs-epsilon, normalised by clean accuracy and the epsilon range.

    With epsilons ``e_0 = 0 < e_1 < ... < e_K`` and accuracies ``a_0 ... a_K`` (``a_0`` the clean accuracy)::

        auc = sum_k (e_{k+1} - e_k) * (a_k + a_{k+1}) / 2  /  (a_0 * (e_K - e_0))

    1 means no accuracy is lost anywhere on the range; a model that drops to 0 right after epsilon 0 scores
    about ``(e_1 - e_0) / (2 * e_K)``.
    """
    epsilons = np.asarray(epsilons, dtype=np.float64)
    accuracies = np.asarray(accuracies, dtype=np.float64)
    if epsilons.ndim != 1 or epsilons.shape != accuracies.shape or len(epsilons) < 2:
        raise ValueError(f"epsilons and accuracies must be 1-d of the same length >= 2, got shapes "
                         f"{epsilons.shape} and {accuracies.shape}")
    if not (np.isfinite(epsilons).all() and np.isfinite(accuracies).all()):
        raise ValueError("epsilons and accuracies must be finite (no NaN)")
    if epsilons[0] != 0 or not (np.diff(epsilons) > 0).all():
        raise ValueError(f"epsilons must start at 0 and increase strictly, got {epsilons.tolist()}")
    if (accuracies < 0).any() or (accuracies > 1).any():
        raise ValueError(f"accuracies must lie in [0, 1], got {accuracies.tolist()}")
    if accuracies[0] == 0:
        raise ValueError("clean accuracy (at epsilon 0) is 0: the normalised area is undefined")
    area = float(np.sum(np.diff(epsilons) * (accuracies[:-1] + accuracies[1:]) / 2))
    return area / (float(accuracies[0]) * float(epsilons[-1] - epsilons[0]))
