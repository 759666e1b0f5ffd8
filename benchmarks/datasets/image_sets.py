"""Image sets for the robustness benchmarks: a user folder, THINGS-EEG2 test images, or built-in photos.

``$REALNET_DATA_DIR/robustness/`` holds images (``.jpg``/``.png``/``.jpeg``) and optionally ``labels.csv`` with
columns ``file,imagenet_index``; without labels each model's clean prediction is its label. The built-in set is
scikit-image's public-domain photos with their ImageNet classes, so the benchmark runs offline.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from model_registry.image_decoding import decode_image
from model_registry.storage.paths import data_dir

from .errors import DatasetFormatError, DatasetNotFoundError

# scikit-image photo -> ImageNet class index (used as labels for the built-in set)
BUILTIN_PHOTOS = {"chelsea": 281, "coffee": 967, "astronaut": None, "rocket": None}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class ImageSet:
    """``images`` in RGB with ``ids``; ``labels`` (ImageNet indices) or ``None`` to use clean predictions."""

    name: str
    ids: tuple[str, ...]
    images: tuple[Image.Image, ...]
    labels: tuple[int, ...] | None


def builtin_photos() -> ImageSet:
    """scikit-image's photos (chelsea, coffee, astronaut, rocket); labels are clean predictions."""
    from skimage import data as photos

    images = tuple(Image.fromarray(getattr(photos, name)()).convert("RGB") for name in BUILTIN_PHOTOS)
    return ImageSet("skimage-photos", tuple(BUILTIN_PHOTOS), images, None)


def folder_images(folder: str | Path | None = None) -> ImageSet:
    """Images in ``folder`` (default ``$REALNET_DATA_DIR/robustness``), sorted by name, with optional labels.csv.

    Raises :class:`~benchmarks.datasets.errors.DatasetNotFoundError` without images and
    :class:`~benchmarks.datasets.errors.DatasetFormatError` for a labels.csv missing a file or out of 0..999."""
    folder = Path(folder) if folder is not None else data_dir("robustness")
    files = sorted(p for p in folder.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
    if not files:
        raise DatasetNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}; put images there or use "
                                "images='builtin'")
    labels = None
    label_file = folder / "labels.csv"
    if label_file.is_file():
        with open(label_file, newline="") as handle:
            table = {row["file"]: int(row["imagenet_index"]) for row in csv.DictReader(handle)}
        missing = [p.name for p in files if p.name not in table]
        if missing:
            raise DatasetFormatError(f"{label_file} has no imagenet_index for {missing[:5]}")
        bad = [i for i in table.values() if not 0 <= i < 1000]
        if bad:
            raise DatasetFormatError(f"{label_file}: imagenet_index must be in 0..999, got {bad[:5]}")
        labels = tuple(table[p.name] for p in files)
    images = tuple(decode_image(p, p.stem) for p in files)
    return ImageSet(folder.name, tuple(p.stem for p in files), images, labels)


def things_eeg2_test_images(root: str | Path | None = None) -> ImageSet:
    """The 200 THINGS-EEG2 test images (labels = clean predictions)."""
    from benchmarks.datasets.things_eeg2.data import image_paths

    paths = image_paths("test", root)
    return ImageSet("things-eeg2-test", tuple(p.stem for p in paths),
                    tuple(decode_image(p, p.stem) for p in paths), None)


def load_image_set(images: str | Path = "auto") -> ImageSet:
    """``'auto'`` (the robustness folder when it has images, else built-in photos), ``'builtin'``,
    ``'things-eeg2'`` or a folder path."""
    if images == "builtin":
        return builtin_photos()
    if images == "things-eeg2":
        return things_eeg2_test_images()
    if images == "auto":
        folder = data_dir("robustness")
        has_images = folder.is_dir() and any(p.suffix.lower() in IMAGE_SUFFIXES for p in folder.glob("*"))
        return folder_images(folder) if has_images else builtin_photos()
    return folder_images(images)


def to_pixels(image_set: ImageSet, preprocessing) -> np.ndarray:
    """``(N, 3, S, S)`` float32 pixels in [0, 1] after the model's resize/crop (before normalisation)."""
    return np.stack([preprocessing.to_pixels(image).numpy() for image in image_set.images])
