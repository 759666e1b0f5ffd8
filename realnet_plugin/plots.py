"""Figures of benchmark results (PNG or PDF, chosen by the file suffix), written atomically."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from model_registry.atomic import atomic_path

FIGURE_SUFFIXES = (".png", ".pdf")


def _figure(width: float = 6.0, height: float = 4.0):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height), constrained_layout=True)


def save_figure(figure, path: str | Path) -> Path:
    """Save ``figure`` to ``path`` (``.png`` at 150 dpi or ``.pdf``) atomically and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    if path.suffix.lower() not in FIGURE_SUFFIXES:
        raise ValueError(f"figure path must end in {' or '.join(FIGURE_SUFFIXES)}, got {path}")
    with atomic_path(path, suffix=path.suffix) as tmp:
        figure.savefig(tmp, dpi=150, format=path.suffix[1:].lower())
    plt.close(figure)
    return path


def plot_robustness_curves(results: Mapping[str, object], path: str | Path) -> Path:
    """Accuracy vs epsilon (in /255 units) for several models: ``{label: robustness Score}`` -> figure file."""
    if not results:
        raise ValueError("no results to plot")
    figure, axis = _figure()
    for label, result in results.items():
        for key in ("epsilons", "accuracies"):
            if key not in result.attrs:
                raise ValueError(f"result {label!r} is not a robustness score (no {key!r} in attrs)")
        epsilons = np.asarray(result.attrs["epsilons"], dtype=float) * 255
        axis.plot(epsilons, result.attrs["accuracies"], marker="o", label=f"{label} (AUC {float(result):.2f})")
    attack = next(iter(results.values())).attrs.get("attack", "attack").upper()
    axis.set(xlabel="epsilon (x 1/255, L-inf, pixel space)", ylabel="accuracy", ylim=(-0.02, 1.02),
             title=f"{attack} robustness")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    return save_figure(figure, path)
