"""A uniform view of the images a model looks at: ids plus files or in-memory arrays, with a content hash."""
from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

ImageSource = Path | np.ndarray | Image.Image


@dataclass(frozen=True)
class Stimuli:
    """``ids[i]`` names image ``sources[i]`` (a file path, an ``(H, W, 3)`` uint8 array or a PIL image)."""

    ids: tuple[str, ...]
    sources: tuple[ImageSource, ...]

    def __post_init__(self):
        if len(self.ids) != len(self.sources):
            raise ValueError(f"{len(self.ids)} stimulus ids for {len(self.sources)} images")
        if len(self.ids) == 0:
            raise ValueError("no stimuli given")
        repeated = [identifier for identifier, count in Counter(self.ids).items() if count > 1]
        if repeated:
            raise ValueError(f"stimulus ids must be unique; repeated: {repeated[:5]}")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def paths(self) -> list[Path | None]:
        """File path of each stimulus, ``None`` for in-memory images."""
        return [s if isinstance(s, Path) else None for s in self.sources]

    def image(self, index: int) -> Image.Image:
        """Stimulus ``index`` as an RGB PIL image."""
        source = self.sources[index]
        if isinstance(source, Path):
            try:
                with Image.open(source) as image:
                    return image.convert("RGB")
            except (OSError, ValueError) as error:
                raise ValueError(f"cannot read stimulus {self.ids[index]!r} from {source}: {error}") from error
        if isinstance(source, Image.Image):
            return source.convert("RGB")
        return Image.fromarray(_as_uint8_rgb(source, self.ids[index]))

    def content_hash(self) -> str:
        """sha256 over the ids and the bytes of every image (file bytes or array bytes)."""
        digest = hashlib.sha256()
        for identifier, source in zip(self.ids, self.sources):
            digest.update(identifier.encode() + b"\0")
            if isinstance(source, Path):
                with open(source, "rb") as handle:
                    for chunk in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(chunk)
            else:
                array = np.asarray(source)
                digest.update(f"{array.shape}{array.dtype}".encode())
                digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()

    def subset(self, indices: Sequence[int]) -> Stimuli:
        """The stimuli at ``indices``, in that order."""
        return Stimuli(tuple(self.ids[i] for i in indices), tuple(self.sources[i] for i in indices))


def _as_uint8_rgb(array: np.ndarray, identifier: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] not in (3, 4):
        raise ValueError(f"stimulus {identifier!r}: expected an (H, W, 3) image array, got shape {array.shape}")
    if array.dtype != np.uint8:
        if not np.isfinite(array).all():
            raise ValueError(f"stimulus {identifier!r} holds NaN or infinite pixel values")
        scale = 255.0 if array.max() <= 1.0 else 1.0
        array = np.clip(array * scale, 0, 255).astype(np.uint8)
    return array[..., :3]


def _source(item) -> ImageSource:
    if isinstance(item, (str, os.PathLike)):
        path = Path(item)
        if not path.is_file():
            raise FileNotFoundError(f"stimulus file not found: {path}")
        return path
    if isinstance(item, (np.ndarray, Image.Image)):
        return item
    raise TypeError(f"cannot use {type(item).__name__} as an image; expected a path, an array or a PIL image")


def as_stimuli(stimuli, ids: Sequence[str] | None = None) -> Stimuli:
    """Accept a Brain-Score ``StimulusSet``, a mapping id -> image, a sequence of paths/arrays/PIL images
    (ids default to file stems or ``'image_0000'``...), an ``(N, H, W, 3)`` array, or :class:`Stimuli`."""
    if isinstance(stimuli, Stimuli):
        return stimuli
    if hasattr(stimuli, "get_stimulus") and "stimulus_id" in getattr(stimuli, "columns", ()):
        stimulus_ids = [str(i) for i in stimuli["stimulus_id"]]
        return Stimuli(tuple(stimulus_ids), tuple(_source(stimuli.get_stimulus(i)) for i in stimulus_ids))
    if isinstance(stimuli, Mapping):
        return Stimuli(tuple(str(k) for k in stimuli), tuple(_source(v) for v in stimuli.values()))
    if isinstance(stimuli, np.ndarray) and stimuli.ndim == 4:
        stimuli = list(stimuli)
    if isinstance(stimuli, (str, os.PathLike)):
        raise TypeError(f"expected several stimuli, got the single path {stimuli}")
    items = list(stimuli)
    sources = tuple(_source(item) for item in items)
    if ids is None:
        ids = [s.stem if isinstance(s, Path) else f"image_{i:04d}" for i, s in enumerate(sources)]
    return Stimuli(tuple(str(i) for i in ids), sources)
