"""``fgsm-robustness`` and ``pgd-robustness``: accuracy under white-box L-inf attacks across epsilons.

Score = area under the accuracy-vs-epsilon curve normalised by clean accuracy and the epsilon range
(:func:`benchmarks.robustness.attacks.robustness_auc`); attrs hold the whole curve. Needs white-box access:
a registered model (``network`` + ``spec.preprocessing``).
"""
from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import torch
from brainscore_core.benchmarks import BenchmarkBase
from brainscore_core.metrics import Score

from model_registry.device import resolve_device

from .. import options as opt
from ..datasets.image_sets import ImageSet, load_image_set, to_pixels
from .attacks import accuracy_curve, robustness_auc

DEFAULT_EPSILONS = (0.0, 1 / 255, 2 / 255, 4 / 255, 8 / 255)
OPTIONS: dict[str, opt.Option] = {
    "epsilons": opt.Option("a non-empty list of L-inf budgets >= 0 in pixel units [0, 1]", [0.0, 0.004, 0.016],
                           opt.number_list(0.0)),
    "images": opt.Option("'auto', 'builtin', 'things-eeg2' or a folder of images", "builtin", opt.path),
    "steps": opt.Option("an integer >= 1 (PGD steps)", 10, opt.integer(1)),
    "seed": opt.Option("an integer >= 0", 0, opt.integer(0)),
    "batch_size": opt.Option("an integer >= 1", 16, opt.integer(1)),
    "device": opt.Option("a torch device such as 'cpu' or 'cuda'", "cpu", opt.optional(opt.string)),
    "progress": opt.Option("true or false", False, opt.boolean),
}
"""The options of ``fgsm-robustness`` / ``pgd-robustness`` (checked when the benchmark is built)."""


class RobustnessBenchmark(BenchmarkBase):
    """Accuracy-vs-epsilon under FGSM or PGD on an image set (see :mod:`benchmarks.datasets.image_sets`).

    Safe to share between threads (:attr:`thread_safe`): the image set is loaded once under a lock and only read
    afterwards; each call works on its own candidate (whose network it moves to the device) and its own seeded
    ``torch.Generator`` s, never torch's global random state."""

    thread_safe = True  # realnet_plugin.api.shared_benchmark gives every thread this one object

    def __init__(self, attack: str = "fgsm", epsilons: Sequence[float] = DEFAULT_EPSILONS, images="auto",
                 steps: int = 10, seed: int = 0, batch_size: int = 16, device: str | None = None,
                 progress: bool = True):
        identifier = f"{attack}-robustness"
        for name, value in (("epsilons", list(epsilons) if isinstance(epsilons, tuple) else epsilons),
                            ("images", images), ("steps", steps), ("seed", seed), ("batch_size", batch_size),
                            ("device", device), ("progress", progress)):
            opt.check_value(identifier, name, OPTIONS[name], value)
        super().__init__(identifier=identifier, ceiling=Score(1.0), version=1, parent="engineering", bibtex=None)
        self.attack, self.epsilons, self.images = attack, tuple(float(e) for e in epsilons), images
        self.steps, self.seed, self.batch_size, self.device, self.progress = steps, seed, batch_size, device, progress
        self._image_set: ImageSet | None = None
        self._lock = threading.Lock()

    def validate(self) -> ImageSet:
        """Load and check the image set before any model runs (once per object, under a lock; kept)."""
        with self._lock:
            if self._image_set is None:
                self._image_set = load_image_set(self.images)
            return self._image_set

    def __call__(self, candidate) -> Score:
        if not hasattr(candidate, "network") or not hasattr(candidate, "spec"):
            raise TypeError(f"{self.identifier} needs white-box access (a registered model with .network and "
                            f".spec), got {type(candidate).__name__}")
        image_set = self.validate()
        preprocessing = candidate.spec.preprocessing
        network = candidate.network.to(resolve_device(self.device))
        pixels = torch.from_numpy(to_pixels(image_set, preprocessing))
        labels = torch.tensor(image_set.labels) if image_set.labels is not None else None
        accuracies = accuracy_curve(network, pixels, labels, self.epsilons, normalize=preprocessing.normalize,
                                    attack=self.attack, batch_size=self.batch_size, steps=self.steps, seed=self.seed,
                                    progress=self.progress)
        result = Score(robustness_auc(self.epsilons, accuracies))
        result.attrs.update({"epsilons": np.asarray(self.epsilons), "accuracies": np.asarray(accuracies),
                             "clean_accuracy": float(accuracies[0]), "image_set": image_set.name,
                             "n_images": len(image_set.ids), "attack": self.attack,
                             "labels": "imagenet" if labels is not None else "clean predictions",
                             "raw": Score(float(np.mean(accuracies))), "ceiling": self.ceiling})
        return result
