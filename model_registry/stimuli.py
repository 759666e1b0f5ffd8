"""A uniform view of the images a model looks at: ids plus files or in-memory arrays, with a content hash.

Every stimulus is decoded by :func:`model_registry.image_decoding.decode_image` (16-bit and float scaling,
transparency onto mid-grey, EXIF orientation: the rules are in that module's docstring).

Ids of files given without ids (a list of paths) are the file stems (``images/cat.jpg`` -> ``cat``). Files whose
stems collide (``a/cat.jpg`` and ``b/cat.jpg``) get their path relative to the deepest folder holding all of the
colliding files, in POSIX form and without suffix (``a/cat``, ``b/cat``); the suffix is kept where only it tells
them apart (``a/cat.jpg`` and ``a/cat.png`` -> ``cat.jpg``, ``cat.png``). Files with unique stems keep their stem,
so those ids (and the caches keyed by them) do not change. Pass ``ids=`` (or a mapping id -> file, or a
StimulusSet) to choose ids yourself.

Visual degrees, as Brain-Score's ``benchmark_helpers.screen.place_on_screen`` treats them: stimuli may carry the
visual angle each image spanned where it was shown (``degrees``; a StimulusSet's ``degrees`` column), and
:meth:`Stimuli.on_screen` places them on a model's screen of ``screen_degrees`` (its ``visual_degrees()``). Each
image is then scaled by ``ratio = screen_degrees / degrees``: a smaller stimulus (ratio > 1) is pasted in the centre
of a mid-grey (128, 128, 128) canvas ``round(ratio * size)`` pixels wide, a larger one (ratio < 1) is centre-cropped
to ``round(ratio * size)`` (:func:`place_image`); where the degrees equal the screen's the image is untouched. The
model's own preprocessing then resizes the result. Unlike Brain-Score no file is written (no JPEG re-encoding of the
canvas) and nothing is cached by stimulus-set name: the placed pixels enter :meth:`Stimuli.content_hash`.
"""
from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .image_decoding import check_image_array, decode_image, decode_like_brainscore, image_size

ImageSource = Path | np.ndarray | Image.Image
# version of the placement rule (part of model fingerprints): bump it whenever placed pixels change
SCREEN_VERSION = 1
SCREEN_BACKGROUND = (128, 128, 128)  # PIL's 'gray', Brain-Score's canvas colour


def place_image(image: Image.Image, source_degrees: float, target_degrees: float) -> Image.Image:
    """``image`` (shown at ``source_degrees``) as it appears on a screen of ``target_degrees``, Brain-Score's
    ``ImageConverter.apply_ratio`` rule: ``ratio = target / source``; ratio >= 1 pastes it centred on a grey canvas
    of ``round(ratio * (W, H))`` pixels (top-left ``round((canvas - size) / 2)``), ratio < 1 centre-crops it to that
    size. Equal degrees return ``image`` itself. Sizes in pixels, angles in degrees; raises ``ValueError`` for a
    non-positive or non-finite angle or a result under one pixel."""
    for name, value in (("source_degrees", source_degrees), ("target_degrees", target_degrees)):
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number of visual degrees, got {value!r}")
    if source_degrees == target_degrees:
        return image
    ratio = target_degrees / source_degrees
    size = np.array(image.size)
    target = (ratio * size).round().astype(int)  # numpy rounding, as Brain-Score's (halves to even)
    if (target < 1).any():
        raise ValueError(f"an image of {tuple(size)} pixels at {source_degrees} degrees shrinks to {tuple(target)} "
                         f"pixels on a {target_degrees}-degree screen")
    if ratio >= 1:
        canvas = Image.new("RGB", (int(target[0]), int(target[1])), SCREEN_BACKGROUND)
        left, upper = ((target - size) / 2).round().astype(int)
        canvas.paste(image.convert("RGB"), (int(left), int(upper)))
        return canvas
    left, upper = ((size - target) / 2).round().astype(int)
    return image.crop((int(left), int(upper), int(left + target[0]), int(upper + target[1])))


def _degrees(values, n: int) -> tuple[float, ...]:
    """``values`` (one number or one per stimulus) as ``n`` positive finite floats; ``ValueError`` otherwise."""
    array = np.asarray(values, dtype=float).reshape(-1)
    if array.size == 1:
        array = np.repeat(array, n)
    if array.size != n:
        raise ValueError(f"{array.size} visual-degree values for {n} stimuli; give one number or one per stimulus")
    bad = ~(np.isfinite(array) & (array > 0))
    if bad.any():
        raise ValueError(f"visual degrees must be positive numbers, got {array[bad][:3].tolist()}")
    return tuple(float(v) for v in array)


@dataclass(frozen=True)
class Stimuli:
    """``ids[i]`` names image ``sources[i]``: a file path, an image array or a PIL image.

    Arrays are ``(H, W)``, ``(H, W, 1|2|3|4)`` of uint8, uint16, bool or float in [0, 1] (checked here, raising
    ``ValueError``); every source is decoded by :func:`~.image_decoding.decode_image`.

    ``degrees``: the visual angle each image spanned where it was shown (one number for all, or one per stimulus;
    ``None``: unknown). ``screen_degrees``: the screen the images are placed on (a model's ``visual_degrees()``,
    set by :meth:`on_screen`); :meth:`image` then returns :func:`place_image` of the decoded image.
    """

    ids: tuple[str, ...]
    sources: tuple[ImageSource, ...]
    degrees: tuple[float, ...] | None = None
    screen_degrees: float | None = None

    def __post_init__(self):
        if len(self.ids) != len(self.sources):
            raise ValueError(f"{len(self.ids)} stimulus ids for {len(self.sources)} images")
        if len(self.ids) == 0:
            raise ValueError("no stimuli given")
        repeated = [identifier for identifier, count in Counter(self.ids).items() if count > 1]
        if repeated:
            raise ValueError(f"stimulus ids must be unique; repeated: {repeated[:5]}")
        for identifier, source in zip(self.ids, self.sources):
            if isinstance(source, np.ndarray):
                check_image_array(source, identifier)  # shape, dtype, float range: before any heavy work
        if self.degrees is not None:
            object.__setattr__(self, "degrees", _degrees(self.degrees, len(self.ids)))
        if self.screen_degrees is not None:
            if self.degrees is None:
                raise ValueError("screen_degrees needs the stimuli's own degrees (the visual angle they were shown at)")
            object.__setattr__(self, "screen_degrees", _degrees(self.screen_degrees, 1)[0])

    def on_screen(self, screen_degrees: float) -> Stimuli:
        """These stimuli placed on a screen of ``screen_degrees`` (a model's ``visual_degrees()``), Brain-Score's
        ``place_on_screen`` rule (:func:`place_image`); stimuli without ``degrees`` are returned unchanged."""
        if self.degrees is None:
            return self
        return Stimuli(self.ids, self.sources, self.degrees, screen_degrees)

    def _ratio(self, index: int) -> float | None:
        """``screen_degrees / degrees[index]`` where the image is rescaled, else ``None``."""
        if self.screen_degrees is None or self.degrees[index] == self.screen_degrees:
            return None
        return self.screen_degrees / self.degrees[index]

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def paths(self) -> list[Path | None]:
        """File path of each stimulus, ``None`` for in-memory images."""
        return [s if isinstance(s, Path) else None for s in self.sources]

    def image(self, index: int, decoder: str = "realnet") -> Image.Image:
        """Stimulus ``index`` as the 8-bit RGB PIL image the model sees (:func:`~.image_decoding.decode_image`, or
        with ``decoder='brainscore'`` :func:`~.image_decoding.decode_like_brainscore`).

        Placed on the screen (:func:`place_image`) when :attr:`screen_degrees` is set and differs from the image's
        degrees. Raises ``ValueError`` (one line naming the stimulus id and file) for unreadable or unsupported
        images.
        """
        if decoder == "brainscore":
            image = decode_like_brainscore(self.sources[index], self.ids[index])
        else:
            image = decode_image(self.sources[index], self.ids[index])
        if self._ratio(index) is None:
            return image
        return place_image(image, self.degrees[index], self.screen_degrees)

    def check(self) -> None:
        """Check every file's header (readable image, not a decompression bomb) without decoding pixels.

        Cheap (about a millisecond per file); call it before heavy work. Raises the one-line ``ValueError`` of
        :meth:`image` for the first bad file. In-memory arrays were already checked by :func:`as_stimuli`.
        """
        for identifier, source in zip(self.ids, self.sources):
            if isinstance(source, Path):
                image_size(source, identifier)

    def content_hash(self) -> str:
        """sha256 over the ids and the content of every image: file bytes, array bytes, or for PIL images the
        decoded RGB pixels (so two palette images with the same indices but different palettes differ), plus, for
        images placed on a screen of other degrees, the placement (rule version, source and screen degrees). Images
        shown unchanged hash as they did without degrees."""
        digest = hashlib.sha256()
        for identifier, source in zip(self.ids, self.sources):
            digest.update(identifier.encode() + b"\0")
            if isinstance(source, Path):
                with open(source, "rb") as handle:
                    for chunk in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(chunk)
            else:  # PIL images: the decoded pixels (palette, transparency and EXIF orientation included)
                array = np.asarray(decode_image(source, identifier)) if isinstance(source, Image.Image) else source
                digest.update(f"{type(source).__name__}{array.shape}{array.dtype}".encode())
                digest.update(np.ascontiguousarray(array).tobytes())
        placed = [(i, self.degrees[i]) for i in range(len(self.ids)) if self._ratio(i) is not None]
        if placed:
            digest.update(f"screen-v{SCREEN_VERSION}:{self.screen_degrees!r}:".encode())
            for index, degrees in placed:
                digest.update(f"{index}={degrees!r};".encode())
        return digest.hexdigest()

    def subset(self, indices: Sequence[int]) -> Stimuli:
        """The stimuli at ``indices``, in that order."""
        indices = list(indices)
        degrees = None if self.degrees is None else tuple(self.degrees[i] for i in indices)
        return Stimuli(tuple(self.ids[i] for i in indices), tuple(self.sources[i] for i in indices), degrees,
                       self.screen_degrees)


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
    (ids: ``ids`` if given, else :func:`default_ids`: file stems, path-qualified where stems collide, or
    ``'image_0000'``...), an ``(N, H, W[, C])`` array, or :class:`Stimuli`. A StimulusSet's ``degrees`` column
    becomes the stimuli's ``degrees`` (Brain-Score's convention for the visual angle they were shown at).

    Raises ``FileNotFoundError`` for a missing file, ``TypeError`` for an unusable item and ``ValueError`` for
    repeated ids or a bad image array (shape, dtype, float range), before any image is decoded.
    """
    if isinstance(stimuli, Stimuli):
        return stimuli
    if hasattr(stimuli, "get_stimulus") and "stimulus_id" in getattr(stimuli, "columns", ()):
        stimulus_ids = [str(i) for i in stimuli["stimulus_id"]]
        degrees = tuple(stimuli["degrees"]) if "degrees" in stimuli.columns else None
        return Stimuli(tuple(stimulus_ids), tuple(_source(stimuli.get_stimulus(i)) for i in stimulus_ids), degrees)
    if isinstance(stimuli, Mapping):
        return Stimuli(tuple(str(k) for k in stimuli), tuple(_source(v) for v in stimuli.values()))
    if isinstance(stimuli, np.ndarray) and stimuli.ndim == 4:
        stimuli = list(stimuli)
    if isinstance(stimuli, (str, os.PathLike)):
        raise TypeError(f"expected several stimuli, got the single path {stimuli}")
    items = list(stimuli)
    sources = tuple(_source(item) for item in items)
    if ids is None:
        ids = default_ids(sources)
    elif len(ids) != len(sources):
        raise ValueError(f"{len(ids)} ids for {len(sources)} stimuli")
    return Stimuli(tuple(str(i) for i in ids), sources)


def default_ids(sources: Sequence[ImageSource]) -> list[str]:
    """Ids for stimuli given without ids: file stems, path-qualified where stems collide, ``image_0000`` ... for
    in-memory images (``image_{index:04d}``, the index in ``sources``).

    Files whose stems collide get their path relative to the deepest folder holding all of them, POSIX, without
    suffix, or with it where only the suffix differs (see the module docstring). The same file listed twice gets
    the same id (and :class:`Stimuli` then refuses the repeated id).
    """
    paths = {i: Path(os.path.abspath(s)) for i, s in enumerate(sources) if isinstance(s, Path)}
    ids = {i: f"image_{i:04d}" for i in range(len(sources)) if i not in paths}
    by_stem: dict[str, set[Path]] = {}
    for path in paths.values():
        by_stem.setdefault(path.stem, set()).add(path)
    qualified: dict[Path, str] = {}
    for files in (files for files in by_stem.values() if len(files) > 1):
        parent = Path(os.path.commonpath([str(f.parent) for f in files]))
        relative = {f: f.relative_to(parent) for f in files}
        bare = {f: r.with_suffix("").as_posix() for f, r in relative.items()}
        counts = Counter(bare.values())
        qualified.update({f: bare[f] if counts[bare[f]] == 1 else relative[f].as_posix() for f in files})
    for i, path in paths.items():
        ids[i] = qualified.get(path, path.stem)
    return [ids[i] for i in range(len(sources))]
