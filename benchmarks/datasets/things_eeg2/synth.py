"""Synthetic THINGS-EEG2 in the official layout, with planted, known structure (for tests and dry runs).

Written under ``out_dir`` exactly as the release lays it out (see :mod:`benchmarks.datasets.things_eeg2.data`):
``image_metadata.npy`` (same keys and types as the real one), procedurally drawn JPEGs under ``image_set/``,
``preprocessed_data/sub-XX/preprocessed_eeg_{training,test}.npy`` (by default float64 with the release's channel
names and times; ``ch_names``, ``sampling_rate_hz``, ``epoch`` and ``dtype`` write the variants researchers make,
e.g. :data:`MONTAGE_63` at 250 Hz in float32), plus ``synth_info.json`` recording what was planted.
``image_metadata.npy`` follows the release's ordering rule (concept folders numbered in sorted order, files sorted
within a concept: the sorted ``image_set`` listing), which the loader checks.

Planted structure, per image i, repetition r, channel c, time t::

    eeg[i, r, c, t] = exp(-(t - peak_time)^2 / (2 width^2)) * pattern[i, c] + noise * N(0, 1)
    pattern = z(feature_fn(images)) @ W,  each channel scaled to unit std over all images

``z`` standardises every feature over all images of both splits, ``W`` (n_features, n_channels) is a fixed random map
shared by all subjects; subjects differ only in their noise. Features come from the JPEG bytes as written, so a
model reading the files sees exactly the images the EEG was planted from.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from tqdm import tqdm

from .data import CHANNEL_NAMES, RELEASE_N_REPETITIONS, SAMPLING_RATE_HZ, TIMES

FeatureFn = Callable[[np.ndarray], np.ndarray]  # uint8 (N, H, W, 3) -> (N, F)

# A 63-channel 10-10 montage (Brain Products actiCap order, reference FCz not recorded) that holds the release's
# 17 posterior channels in the release's order: the kind of file a full re-preprocessing of the raw data gives.
MONTAGE_63: tuple[str, ...] = tuple(
    "Fp1 Fz F3 F7 FT9 FC5 FC1 C3 T7 TP9 CP5 CP1 Pz P3 P7 O1 Oz O2 P4 P8 TP10 CP6 CP2 Cz C4 T8 FT10 FC6 FC2 F4 F8 "
    "Fp2 AF7 AF3 AFz F1 F5 FT7 FC3 C1 C5 TP7 CP3 P1 P5 PO7 PO3 POz PO4 PO8 P6 P2 CPz CP4 TP8 C6 C2 FC4 FT8 F6 AF8 "
    "AF4 F2".split())
RELEASE_EPOCH = (-0.2, 0.8)  # seconds: first sample and end of the epoch (last sample one step before)

# The release's sizes (THINGS images are 500 x 500); writes 0.9 GB of training EEG per subject.
FULL_RELEASE = dict(n_test_images=200, n_train_concepts=1654, n_train_per_concept=10,
                    n_test_repetitions=RELEASE_N_REPETITIONS["test"],
                    n_train_repetitions=RELEASE_N_REPETITIONS["training"], image_size=500)

_ADJECTIVES = (
    "amber", "ashen", "azure", "bold", "brisk", "bronze", "calm", "cobalt", "coral", "crimson", "dusky", "ebony",
    "fuzzy", "gilded", "glossy", "golden", "grainy", "hazel", "indigo", "ivory", "jade", "knotty", "lemon", "lilac",
    "marble", "misty", "mossy", "navy", "ochre", "olive", "pearl", "plum", "quartz", "rosy", "rusty", "sandy",
    "scarlet", "silver", "slate", "smoky", "stony", "teal", "umber", "velvet", "violet", "woolly", "zesty",
)
_NOUNS = (
    "anchor", "anvil", "badge", "barrel", "beacon", "bell", "bottle", "bucket", "button", "candle", "castle",
    "comet", "crown", "cube", "dial", "drum", "feather", "flask", "fork", "gear", "glove", "harp", "helmet", "kettle",
    "kite", "ladder", "lamp", "lantern", "leaf", "magnet", "mask", "mitten", "needle", "orb", "paddle", "pebble",
    "prism", "quill", "ring", "rocket", "saddle", "shell", "spool", "teapot", "tile", "trumpet", "wheel", "whistle",
)
# signal source -> how the planted channel patterns are made (recorded in synth_info.json)
SIGNALS = {
    "images": "pattern = z(features) @ W (W fixed random (n_features, n_channels), shared by subjects), each channel "
              "scaled to unit std over all images of both splits",
    "random": "pattern[i, c] ~ N(0, 1) drawn per image independently of its pixels (shared by subjects), each "
              "channel scaled to unit std: the EEG carries no image-computable information",
    "none": "pattern = 0: noise only",
}
_SHAPES = ("ellipse", "rectangle", "triangle", "polygon", "line", "ring", "star")
_BACKGROUNDS = ("solid", "gradient", "stripes", "checker", "noise", "rings")


# --------------------------------------------------------------------------------------------------------------
# default feature function


class RandomConvFeatures:
    """A small fixed-seed random conv net: uint8 images (N, H, W, 3) -> features (N, 4 * widths[-1]) float64.

    Images are scaled to [-0.5, 0.5] and resized to ``input_size`` x ``input_size`` (bilinear, antialiased);
    conv 5x5 stride 2, then 3x3 stride 2 convs, ReLU after each, He-normal weights drawn from ``seed``, then
    2 x 2 adaptive average pooling. Deterministic on CPU.
    """

    def __init__(self, seed: int = 0, input_size: int = 64, widths: tuple[int, ...] = (16, 32, 64)):
        self.seed, self.input_size, self.widths = seed, input_size, tuple(widths)
        generator = torch.Generator().manual_seed(seed)
        layers, in_channels = [], 3
        for index, out_channels in enumerate(self.widths):
            kernel = 5 if index == 0 else 3
            conv = torch.nn.Conv2d(in_channels, out_channels, kernel, stride=2, padding=kernel // 2)
            fan_in = in_channels * kernel * kernel
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * (2.0 / fan_in) ** 0.5)
                conv.bias.copy_(torch.randn(conv.bias.shape, generator=generator) * 0.1)
            layers += [conv, torch.nn.ReLU()]
            in_channels = out_channels
        layers += [torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten()]
        self.network = torch.nn.Sequential(*layers).eval()

    @property
    def n_features(self) -> int:
        return 4 * self.widths[-1]

    @property
    def description(self) -> str:
        return (f"RandomConvFeatures(seed={self.seed}, input_size={self.input_size}, widths={list(self.widths)}): "
                "random He-normal convs 5x5/3x3 stride 2 + ReLU, 2x2 average pooling")

    def __call__(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f"expected uint8 images (N, H, W, 3), got {images.dtype} {images.shape}")
        with torch.no_grad():
            pixels = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0 - 0.5  # (N, 3, H, W)
            if pixels.shape[-2:] != (self.input_size, self.input_size):
                pixels = torch.nn.functional.interpolate(pixels, size=(self.input_size, self.input_size),
                                                         mode="bilinear", align_corners=False, antialias=True)
            return self.network(pixels).double().numpy()  # (N, F)


# --------------------------------------------------------------------------------------------------------------
# names and images


def concept_names(n_train_concepts: int, n_test_concepts: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """Distinct made-up concept names (``amber_anchor``) for both splits, each list sorted alphabetically."""
    n_total = n_train_concepts + n_test_concepts
    vocabulary = [f"{a}_{n}" for a in _ADJECTIVES for n in _NOUNS]
    if n_total > len(vocabulary):
        vocabulary += [f"{name}{k}" for k in range(2, 2 + -(-n_total // len(vocabulary))) for name in vocabulary]
    chosen = np.random.default_rng([seed, 11]).choice(len(vocabulary), size=n_total, replace=False)
    names = [vocabulary[i] for i in chosen]
    return sorted(names[:n_train_concepts]), sorted(names[n_train_concepts:])


def build_image_metadata(n_test_images: int, n_train_concepts: int, n_train_per_concept: int,
                         seed: int = 0) -> dict[str, list[str]]:
    """A metadata dict with the six keys, list-of-str values and naming style of the release's image_metadata.npy.

    Concept folders are numbered per split in alphabetical order (``00001_<name>``); ``*_THINGS`` keys number
    concepts over both splits together, as THINGS does. Training: ``n_train_per_concept`` images per concept,
    ``<name>_01b.jpg``, ``<name>_02s.jpg`` ... (zero-padded to sort by name); test: one image per concept,
    ``<name>_NNs.jpg``. Rows follow the release's order: concept folders by number, files sorted within a concept.
    """
    train_names, test_names = concept_names(n_train_concepts, n_test_images, seed)
    things_index = {name: i + 1 for i, name in enumerate(sorted(train_names + test_names))}
    rng = np.random.default_rng([seed, 12])
    metadata: dict[str, list[str]] = {key: [] for key in (
        "test_img_concepts", "test_img_concepts_THINGS", "test_img_files",
        "train_img_files", "train_img_concepts", "train_img_concepts_THINGS")}
    for index, name in enumerate(test_names, start=1):
        metadata["test_img_concepts"].append(f"{index:05d}_{name}")
        metadata["test_img_concepts_THINGS"].append(f"{things_index[name]:05d}_{name}")
        metadata["test_img_files"].append(f"{name}_{int(rng.integers(1, 13)):02d}s.jpg")
    width = max(2, len(str(n_train_per_concept)))
    for index, name in enumerate(train_names, start=1):
        for k in range(1, n_train_per_concept + 1):
            metadata["train_img_files"].append(f"{name}_{k:0{width}d}{'b' if k == 1 else 's'}.jpg")
            metadata["train_img_concepts"].append(f"{index:05d}_{name}")
            metadata["train_img_concepts_THINGS"].append(f"{things_index[name]:05d}_{name}")
    return metadata


def draw_image(concept_seed: tuple[int, ...], image_seed: tuple[int, ...], size: int) -> np.ndarray:
    """A procedural image (size, size, 3) uint8: a textured background and random shapes.

    ``concept_seed`` fixes the concept's style (palette, shape kinds, background kind), ``image_seed`` the layout.
    """
    style = np.random.default_rng(list(concept_seed))
    palette = style.integers(0, 256, size=(4, 3))
    kinds = style.choice(len(_SHAPES), size=2, replace=False)
    background = _BACKGROUNDS[int(style.integers(len(_BACKGROUNDS)))]
    rng = np.random.default_rng(list(image_seed))

    canvas = _background(background, palette, rng, size)
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(2, 7))):
        kind = _SHAPES[int(kinds[int(rng.integers(2))])]
        colour = tuple(int(v) for v in np.clip(palette[int(rng.integers(1, 4))] + rng.normal(0, 25, 3), 0, 255))
        cx, cy = rng.uniform(0.1, 0.9, 2) * size
        radius = rng.uniform(0.08, 0.35) * size
        angle = rng.uniform(0, 2 * np.pi)
        _draw_shape(draw, kind, cx, cy, radius, angle, colour, rng, size)
    return np.asarray(image, dtype=np.uint8)


def _background(kind: str, palette: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size] / size
    first, second = palette[0].astype(float), np.clip(palette[0] + rng.normal(0, 60, 3), 0, 255)
    if kind == "solid":
        mix = np.zeros((size, size))
    elif kind == "gradient":
        angle = rng.uniform(0, 2 * np.pi)
        mix = (np.cos(angle) * x + np.sin(angle) * y + 1.5) / 3.0
    elif kind == "stripes":
        angle, frequency = rng.uniform(0, np.pi), rng.uniform(3, 12)
        mix = 0.5 + 0.5 * np.sign(np.sin(2 * np.pi * frequency * (np.cos(angle) * x + np.sin(angle) * y)))
    elif kind == "checker":
        cells = int(rng.integers(3, 10))
        mix = ((np.floor(x * cells) + np.floor(y * cells)) % 2).astype(float)
    elif kind == "rings":
        cx, cy, frequency = *rng.uniform(0.2, 0.8, 2), rng.uniform(4, 14)
        mix = 0.5 + 0.5 * np.sin(2 * np.pi * frequency * np.hypot(x - cx, y - cy))
    else:  # noise: coarse random blocks, upsampled
        cells = int(rng.integers(4, 12))
        coarse = rng.uniform(0, 1, (cells, cells))
        mix = coarse[np.minimum((y * cells).astype(int), cells - 1), np.minimum((x * cells).astype(int), cells - 1)]
    canvas = first * (1 - mix[..., None]) + second * mix[..., None]  # (size, size, 3)
    return np.clip(canvas, 0, 255).astype(np.uint8)


def _draw_shape(draw: ImageDraw.ImageDraw, kind: str, cx: float, cy: float, radius: float, angle: float,
                colour: tuple[int, ...], rng: np.random.Generator, size: int) -> None:
    box = [cx - radius, cy - radius * rng.uniform(0.4, 1.0), cx + radius, cy + radius * rng.uniform(0.4, 1.0)]
    outline = max(1, size // 32)
    if kind == "ellipse":
        draw.ellipse(box, fill=colour)
    elif kind == "rectangle":
        draw.rectangle(box, fill=colour)
    elif kind == "ring":
        draw.ellipse(box, outline=colour, width=max(outline, int(radius / 4)))
    elif kind == "line":
        dx, dy = radius * np.cos(angle), radius * np.sin(angle)
        draw.line([cx - dx, cy - dy, cx + dx, cy + dy], fill=colour, width=max(outline, int(radius / 5)))
    else:
        corners = {"triangle": 3, "polygon": int(rng.integers(5, 9)), "star": 10}[kind]
        angles = angle + 2 * np.pi * np.arange(corners) / corners
        radii = np.where(np.arange(corners) % 2 == 1, 0.45, 1.0) * radius if kind == "star" else np.full(
            corners, radius)
        draw.polygon([(cx + r * np.cos(a), cy + r * np.sin(a)) for r, a in zip(radii, angles)], fill=colour)


def _jpeg_bytes(image: np.ndarray, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _decode(jpeg: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(jpeg)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


# --------------------------------------------------------------------------------------------------------------
# generator


def time_profile(peak_time: float, width: float, times: np.ndarray = TIMES) -> np.ndarray:
    """Gaussian bump exp(-(t - peak_time)^2 / (2 width^2)) over ``times`` (seconds); shape (n_times,)."""
    return np.exp(-0.5 * ((np.asarray(times, dtype=np.float64) - peak_time) / width) ** 2)


def release_times(sampling_rate_hz: float = SAMPLING_RATE_HZ,
                  epoch: tuple[float, float] = RELEASE_EPOCH) -> np.ndarray:
    """Sample times (seconds) of an epoch: ``arange(round(epoch[0] fs), round(epoch[1] fs)) / fs``; at 100 Hz
    over (-0.2, 0.8) s the release's 100 times -0.20 ... 0.79 s, at 250 Hz 250 times -0.200 ... 0.796 s."""
    if not sampling_rate_hz > 0:
        raise ValueError(f"sampling_rate_hz must be > 0, got {sampling_rate_hz!r}")
    first, stop = round(epoch[0] * sampling_rate_hz), round(epoch[1] * sampling_rate_hz)
    if stop - first < 2:
        raise ValueError(f"epoch {epoch} s at {sampling_rate_hz} Hz holds {stop - first} samples; expected >= 2")
    return np.arange(first, stop) / float(sampling_rate_hz)


def generate_things_eeg2(out_dir: str | os.PathLike, n_subjects: int = 2, n_test_images: int = 24,
                         n_train_concepts: int = 8, n_train_per_concept: int = 3, n_test_repetitions: int = 16,
                         n_train_repetitions: int = 4, image_size: int = 64, feature_fn: FeatureFn | None = None,
                         peak_time: float = 0.15, width: float = 0.05, noise: float = 1.0, seed: int = 0,
                         overwrite: bool = False, progress: bool = True, batch_size: int = 64,
                         ch_names: Sequence[str] = CHANNEL_NAMES, sampling_rate_hz: float = SAMPLING_RATE_HZ,
                         epoch: tuple[float, float] = RELEASE_EPOCH, dtype: str = "float64",
                         signal: str = "images") -> Path:
    """Write a synthetic THINGS-EEG2 dataset in the official layout under ``out_dir`` and return its path.

    Sizes default to a small test set; ``**FULL_RELEASE`` gives the release's (200 test images x 80 repetitions,
    1654 concepts x 10 training images x 4 repetitions, 500 px). ``feature_fn`` maps uint8 images (N, H, W, 3) to
    features (N, F); default :class:`RandomConvFeatures` (seed ``seed``). ``ch_names`` (default the release's 17;
    :data:`MONTAGE_63` for a full montage), ``sampling_rate_hz`` and ``epoch`` (times: :func:`release_times`) and
    ``dtype`` (``'float64'`` as the release, or ``'float32'``) shape the EEG files. The dataset is built in a
    temporary folder beside ``out_dir`` and moved into place at the end, so a failure leaves nothing half-written.
    ``out_dir`` must be absent or empty unless ``overwrite``.

    ``signal``: where the planted channel patterns come from. ``'images'`` (default): ``z(feature_fn(images)) @ W``,
    so a network that computes ``feature_fn``-like features can predict the EEG from the pixels. ``'random'``: an
    independent standard-normal pattern per image (seeded by ``seed``, shared by subjects, each channel scaled to
    unit std), so the EEG carries no information computable from the image: subjects agree (a positive noise
    ceiling) but no network can learn it from the training images and carry it to the test images (the control of
    ``realnet experiment alignment``). ``'none'``: no planted signal, noise only.
    """
    _check_arguments(n_subjects=n_subjects, n_test_images=n_test_images, n_train_concepts=n_train_concepts,
                     n_train_per_concept=n_train_per_concept, image_size=image_size, batch_size=batch_size)
    for name, value in (("n_test_repetitions", n_test_repetitions), ("n_train_repetitions", n_train_repetitions)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 2:
            raise ValueError(f"{name} must be an integer >= 2, got {value!r}")
    times = release_times(sampling_rate_hz, epoch)
    ch_names = list(ch_names)
    if not ch_names or len(set(ch_names)) != len(ch_names) or not all(isinstance(c, str) and c for c in ch_names):
        raise ValueError(f"ch_names must be distinct, non-empty channel names, got {ch_names!r}")
    if dtype not in ("float64", "float32"):
        raise ValueError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
    if not times[0] <= peak_time <= times[-1]:
        raise ValueError(f"peak_time must lie within the epoch {times[0]:.2f} ... {times[-1]:.2f} s, got {peak_time}")
    if signal not in SIGNALS:
        raise ValueError(f"signal must be one of {list(SIGNALS)}, got {signal!r}")
    if not width > 0 or not noise >= 0:
        raise ValueError(f"width must be > 0 and noise >= 0, got width={width}, noise={noise}")
    out_dir = Path(out_dir).expanduser()
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())) and not overwrite:
        raise FileExistsError(f"{out_dir} exists and is not empty; pass overwrite=True to replace it")
    feature_fn = feature_fn if feature_fn is not None else RandomConvFeatures(seed=seed)
    repetitions = {"training": n_train_repetitions, "test": n_test_repetitions}

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        metadata = build_image_metadata(n_test_images, n_train_concepts, n_train_per_concept, seed)
        np.save(staging / "image_metadata.npy", metadata)  # a pickled dict, as the release stores it
        features = {split: _write_images(staging, metadata, split, image_size, feature_fn, seed, batch_size, progress)
                    for split in ("training", "test")}
        patterns = _planted_patterns(features, seed, len(ch_names), signal)  # split -> (n_images, n_channels)
        profile = time_profile(peak_time, width, times)  # (n_times,)
        subjects = range(1, n_subjects + 1)
        for subject in tqdm(subjects, desc="synthetic EEG subjects", disable=not progress):
            rng = np.random.default_rng([seed, 3, subject])
            folder = staging / "preprocessed_data" / f"sub-{subject:02d}"
            folder.mkdir(parents=True)
            for split in ("training", "test"):
                planted = patterns[split][:, :, None] * profile[None, None, :]  # (N, C, T)
                data = rng.standard_normal((planted.shape[0], repetitions[split], *planted.shape[1:]))
                data *= noise
                data += planted[:, None]  # (N, R, C, T)
                np.save(folder / f"preprocessed_eeg_{split}.npy", {
                    "preprocessed_eeg_data": data.astype(dtype, copy=False), "ch_names": list(ch_names),
                    "times": times.copy()})
                del data
        info = {
            "generator": f"{__name__}.generate_things_eeg2",
            "seed": seed, "n_subjects": n_subjects,
            "n_images": {split: len(patterns[split]) for split in patterns},
            "n_train_concepts": n_train_concepts, "n_train_per_concept": n_train_per_concept,
            "n_repetitions": repetitions, "image_size": image_size,
            "peak_time": peak_time, "width": width, "noise": noise,
            "signal_source": signal,
            "feature_fn": describe_feature_fn(feature_fn),
            "n_features": int(features["test"].shape[1]),
            "signal": "eeg[i, r, c, t] = exp(-(t - peak_time)^2 / (2 width^2)) * pattern[i, c] + noise * N(0, 1); "
                      + SIGNALS[signal],
            "channel_names": list(ch_names),
            "times": {"first": float(times[0]), "last": float(times[-1]), "n_times": len(times),
                      "sampling_rate_hz": float(sampling_rate_hz)},
            "dtype": dtype,
        }
        (staging / "synth_info.json").write_text(json.dumps(info, indent=2) + "\n")
        _move_into_place(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir


def describe_feature_fn(feature_fn: FeatureFn) -> str:
    """``feature_fn.description`` if it has one, else its qualified name (``module.function``), else its repr."""
    description = getattr(feature_fn, "description", None)
    if description:
        return str(description)
    name = getattr(feature_fn, "__qualname__", None)
    return f"{feature_fn.__module__}.{name}" if name else repr(feature_fn)


def _check_arguments(**values: int) -> None:
    for name, value in values.items():
        # test images: an RDM of n images has n(n-1)/2 pairs, and comparing two RDMs needs >= 3 pairs
        minimum = {"image_size": 8, "n_test_images": 3}.get(name, 1)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            why = " (RSA compares RDMs of >= 3 image pairs)" if name == "n_test_images" else ""
            raise ValueError(f"{name} must be an integer >= {minimum}{why}, got {value!r}")


def _write_images(root: Path, metadata: dict[str, list[str]], split: str, size: int, feature_fn: FeatureFn,
                  seed: int, batch_size: int, progress: bool) -> np.ndarray:
    """Draw, save (JPEG) and featurise every image of ``split``; returns features (n_images, F)."""
    prefix = "train" if split == "training" else "test"
    files, concepts = metadata[f"{prefix}_img_files"], metadata[f"{prefix}_img_concepts_THINGS"]
    folders = metadata[f"{prefix}_img_concepts"]
    features, batch = [], []
    for index in tqdm(range(len(files)), desc=f"synthetic {split} images", disable=not progress):
        things_index = int(concepts[index].split("_", 1)[0])
        image = draw_image((seed, 1, things_index), (seed, 2, things_index, index), size)
        jpeg = _jpeg_bytes(image)
        path = root / "image_set" / f"{split}_images" / folders[index] / files[index]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(jpeg)
        batch.append(_decode(jpeg))
        if len(batch) == batch_size or index == len(files) - 1:
            features.append(_checked_features(feature_fn, np.stack(batch)))
            batch = []
    return np.concatenate(features)


def _checked_features(feature_fn: FeatureFn, images: np.ndarray) -> np.ndarray:
    features = np.asarray(feature_fn(images), dtype=np.float64)
    if features.ndim != 2 or features.shape[0] != len(images) or features.shape[1] < 1:
        raise ValueError(f"feature_fn must map {len(images)} images to an (N, F) array, returned shape "
                         f"{features.shape}")
    if not np.isfinite(features).all():
        raise ValueError("feature_fn returned NaN or infinite features")
    return features


def _planted_patterns(features: dict[str, np.ndarray], seed: int, n_channels: int = len(CHANNEL_NAMES),
                      signal: str = "images") -> dict[str, np.ndarray]:
    """Map features (N, F) per split to channel patterns (N, n_channels), standardised over both splits together
    (``signal='random'``: patterns independent of the features; ``'none'``: zeros)."""
    n_train = len(features["training"])
    n_all = n_train + len(features["test"])
    if signal == "none":
        zeros = np.zeros((n_all, n_channels))
        return {"training": zeros[:n_train], "test": zeros[n_train:]}
    if signal == "random":
        pattern = np.random.default_rng([seed, 5]).standard_normal((n_all, n_channels))
        pattern /= pattern.std(axis=0)
        return {"training": pattern[:n_train], "test": pattern[n_train:]}
    every = np.concatenate([features["training"], features["test"]])  # (N_all, F)
    std = every.std(axis=0)
    scaled = (every - every.mean(axis=0)) / np.where(std > 0, std, 1.0)
    weights = np.random.default_rng([seed, 4]).standard_normal((every.shape[1], n_channels))
    pattern = scaled @ weights  # (N_all, n_channels)
    pattern_std = pattern.std(axis=0)
    if not (pattern_std > 0).all():
        raise ValueError("feature_fn gives the same features for every image; the planted signal would be empty")
    pattern /= pattern_std
    return {"training": pattern[:n_train], "test": pattern[n_train:]}


def _move_into_place(staging: Path, out_dir: Path) -> None:
    if not out_dir.exists():
        os.replace(staging, out_dir)
        return
    if out_dir.is_dir() and not any(out_dir.iterdir()):
        out_dir.rmdir()
        os.replace(staging, out_dir)
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
    os.replace(out_dir, retired / "old")
    os.replace(staging, out_dir)
    shutil.rmtree(retired, ignore_errors=True)
