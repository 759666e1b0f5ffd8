"""Synthetic Kriegeskorte-2008 files in the published MATLAB layout, with planted structure, for tests.

Writes ``92_brainRDMs.mat``, ``Kriegeskorte_Neuron2008_supplementalData.mat`` and ``92_modelRDMs.mat`` with the
same variables, struct fields, category blocks and shapes as the rsatoolbox copies (images are smaller).
Planted structure: every image has a random foreground shape on a grey background; the "brain" patterns are
category prototypes plus an animate/inanimate offset plus image-specific noise, so the RDMs separate animate from
inanimate images and each category forms a cluster. The files pass every order check of the loader; their sha256
differ from the published files, so load them with ``verify_hash=False, download=False``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io
from scipy.spatial.distance import squareform

from model_registry.storage.atomic import atomic_path

from .data import (
    ANIMATE_CATEGORIES,
    BRAIN_RDMS_FILE,
    CATEGORY_BLOCKS,
    CATEGORY_VECTOR_NAMES,
    HUMAN_IT_MEAN_NAME,
    MODEL_RDMS_FILE,
    MONKEY_IT_NAME,
    N_IMAGES,
    SILHOUETTE_MODEL,
    SUPPLEMENT_FILE,
    silhouette_rdm,
)

SUBJECTS = ("BE", "KO", "SN", "TI")
SESSIONS = (1, 2)
BACKGROUND = 128


@dataclass(frozen=True)
class SyntheticKriegeskorte2008:
    """What :func:`write_synthetic_kriegeskorte2008` wrote: ``rdms`` (4, 2, 92, 92) float64 (the stored float32
    values), ``images`` (92, size, size, 3) uint8, ``categories`` (92,) short names, ``latent`` (92, n_voxels)
    noise-free patterns behind the RDMs."""

    root: Path
    rdms: np.ndarray
    images: np.ndarray
    categories: tuple[str, ...]
    latent: np.ndarray


def write_synthetic_kriegeskorte2008(root: str | os.PathLike, *, image_size: int = 32, n_voxels: int = 40,
                                     noise: float = 0.6, seed: int = 0) -> SyntheticKriegeskorte2008:
    """Write the three files into ``root`` (created if needed) and return what was written."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    labels = [long for long, _, count in CATEGORY_BLOCKS for _ in range(count)]
    short = {long: name for long, name, _ in CATEGORY_BLOCKS}
    categories = tuple(short[label] for label in labels)
    category_index = np.array([[name for _, name, _ in CATEGORY_BLOCKS].index(c) for c in categories])
    animate = np.isin(np.array(categories), list(ANIMATE_CATEGORIES))

    images = _shape_images(rng, image_size)
    prototypes = rng.normal(size=(len(CATEGORY_BLOCKS), n_voxels))
    animacy_axis = rng.normal(size=n_voxels)
    latent = prototypes[category_index] + np.where(animate, 1.0, -1.0)[:, None] * animacy_axis \
        + noise * rng.normal(size=(N_IMAGES, n_voxels))  # (92, n_voxels)
    rdms = np.empty((len(SUBJECTS), len(SESSIONS), N_IMAGES, N_IMAGES), dtype=np.float32)
    for s in range(len(SUBJECTS)):
        subject_patterns = latent + 0.5 * noise * rng.normal(size=latent.shape)
        for t in range(len(SESSIONS)):
            rdms[s, t] = _correlation_rdm(subject_patterns + noise * rng.normal(size=latent.shape))
    monkey = _correlation_rdm(latent + noise * rng.normal(size=latent.shape))

    _write_brain_rdms(root / BRAIN_RDMS_FILE, rdms)
    _write_supplement(root / SUPPLEMENT_FILE, images, labels, categories, rdms, monkey, rng)
    _write_model_rdms(root / MODEL_RDMS_FILE, images, animate)
    return SyntheticKriegeskorte2008(root=root, rdms=rdms.astype(np.float64), images=images,
                                     categories=categories, latent=latent)


def _correlation_rdm(patterns: np.ndarray) -> np.ndarray:
    rdm = (1.0 - np.corrcoef(patterns)).astype(np.float32)
    np.fill_diagonal(rdm, 0.0)
    return (rdm + rdm.T) / 2


def _shape_images(rng: np.random.Generator, size: int) -> np.ndarray:
    """(92, size, size, 3) uint8: one random ellipse or rectangle per image on a uniform grey background."""
    rows, cols = np.mgrid[0:size, 0:size]
    images = np.full((N_IMAGES, size, size, 3), BACKGROUND, dtype=np.uint8)
    for image in images:
        center = rng.uniform(0.3, 0.7, size=2) * size
        radii = rng.uniform(0.12, 0.35, size=2) * size
        if rng.random() < 0.5:
            mask = ((rows - center[0]) / radii[0]) ** 2 + ((cols - center[1]) / radii[1]) ** 2 <= 1
        else:
            mask = (np.abs(rows - center[0]) <= radii[0]) & (np.abs(cols - center[1]) <= radii[1])
        color = rng.integers(0, 256, size=3)
        color[color == BACKGROUND] = BACKGROUND + 1
        image[mask] = color
    return images


def _struct_array(shape: tuple[int, ...], fields: tuple[str, ...]) -> np.ndarray:
    return np.empty(shape, dtype=[(name, object) for name in fields])


def _savemat(path: Path, variables: dict) -> None:
    with atomic_path(path, suffix=".mat") as tmp:
        scipy.io.savemat(tmp, variables, do_compression=True)


def _write_brain_rdms(path: Path, rdms: np.ndarray) -> None:
    struct = _struct_array((1, len(SUBJECTS), len(SESSIONS)), ("RDM", "name", "color"))
    for s, subject in enumerate(SUBJECTS):
        for t, session in enumerate(SESSIONS):
            struct[0, s, t] = (rdms[s, t], f"hIT | {subject} | Session: {session}", np.array([[0.0, 0.0, 1.0]]))
    _savemat(path, {"RDMs": struct})


def _write_supplement(path: Path, images: np.ndarray, labels: list[str], categories: tuple[str, ...],
                      rdms: np.ndarray, monkey: np.ndarray, rng: np.random.Generator) -> None:
    fields = ("category", "human", "face", "animal", "natural", "image")
    stimuli = _struct_array((1, N_IMAGES), fields)
    for i, (label, category) in enumerate(zip(labels, categories)):
        human = category.startswith("human_")
        face = category.endswith("_face")
        animal = category in ANIMATE_CATEGORIES
        natural = category != "artificial_inanimate"
        stimuli[0, i] = (label, np.uint8([[human]]), np.uint8([[face]]), np.uint8([[animal]]),
                         np.uint8([[natural]]), images[i])
    category = np.array(categories)
    animate = np.isin(category, list(ANIMATE_CATEGORIES))
    columns = {
        "animate": animate, "inanim": ~animate, "human": np.char.startswith(category, "human_"),
        "nonhumani": np.char.startswith(category, "nonhuman_"), "body": np.char.endswith(category, "_body"),
        "face": np.char.endswith(category, "_face"), "natObj": category == "natural_inanimate",
        "artiObj": category == "artificial_inanimate",
    }
    vectors = np.stack([columns[name] if name in columns else rng.random(N_IMAGES) < 0.5
                        for name in CATEGORY_VECTOR_NAMES], axis=1).astype(np.uint8)  # (92, 12)
    labels_cell = np.empty((1, len(CATEGORY_VECTOR_NAMES)), dtype=object)
    labels_cell[0, :] = list(CATEGORY_VECTOR_NAMES)
    figure = _struct_array((1, 2), ("name", "color", "RDM"))
    figure[0, 0] = (MONKEY_IT_NAME, np.array([[1.0, 0.0, 0.0]]), squareform(monkey.astype(np.float64),
                                                                           checks=False)[None, :])
    human_mean = rdms.astype(np.float64).mean(axis=(0, 1))
    figure[0, 1] = (HUMAN_IT_MEAN_NAME, np.array([[0.0, 0.0, 1.0]]), squareform(human_mean, checks=False)[None, :])
    _savemat(path, {"stimuli_92objs": stimuli, "categoryVectors": vectors, "categoryLabels": labels_cell,
                    "RDMs_mIT_hIT_fig1": figure})


def _write_model_rdms(path: Path, images: np.ndarray, animate: np.ndarray) -> None:
    models = _struct_array((1, 2), ("RDM", "color", "name"))
    animacy = (animate[:, None] != animate[None, :]).astype(np.uint8)
    models[0, 0] = (animacy, np.array([[0.0, 0.0, 0.0]]), "animacy")
    models[0, 1] = (silhouette_rdm(images), np.array([[0.0, 0.0, 0.0]]), SILHOUETTE_MODEL)
    _savemat(path, {"Models": models})
