"""How every stimulus becomes the 8-bit RGB picture a model sees: the one decoding path of the package.

Files, numpy arrays, PIL images and Brain-Score ``StimulusSet`` entries (which are files) all pass through
:func:`decode_image`; :class:`model_registry.Preprocessing` calls it too, so an image reaches a model the same way
whichever door it came in by. The rules, chosen so that two images a person sees as the same picture on screen
reach the model as the same pixels:

* **8-bit** RGB, grayscale (``L``, ``1``), palette (``P``), ``CMYK``, ``YCbCr`` and ``RGBX`` images are converted
  to RGB by Pillow, unchanged otherwise.
* **16-bit** images (Pillow modes ``I;16``, ``I;16L``, ``I;16B``, ``I;16N``, and mode ``I`` of 16-bit PGM/PPM
  files, which Pillow rescales from their ``maxval`` to 0..65535) are scaled by their full range:
  ``round(v / 65535 * 255)``, never clipped (an exact integer rule: there are no ties). Other mode ``I`` images
  (32-bit integer TIFFs, ``Image.fromarray`` of int32) have no known white point and are refused.
  16-bit-per-channel RGB(A) PNG/TIFF files are read by Pillow as their high byte, ``v // 256``, which is within
  one 8-bit level of the same rule.
* **Float** images (mode ``F``, float arrays) must lie in [0, 1] (0 = black, 1 = white) and become
  ``round(v * 255)``. Values outside [0, 1], NaN or infinity are refused: a float picture in 0..255 or in arbitrary
  units has no reliable white point, and guessing one per image would change its contrast silently.
* **Arrays**: ``(H, W)`` grey, ``(H, W, 1)`` grey, ``(H, W, 2)`` grey + alpha, ``(H, W, 3)`` RGB, ``(H, W, 4)`` RGBA;
  dtype ``uint8`` (0..255), ``uint16`` (0..65535, scaled as above), ``bool`` (white where True) or float in [0, 1].
  Other integer dtypes (``int64`` ...) are refused: whether 255 or 65535 is white cannot be known from the dtype.
  Channel-first ``(3, H, W)`` arrays are refused with a hint to transpose.
* **Transparency** (``RGBA``, ``LA``, ``PA``, premultiplied ``RGBa``/``La``, palette or grey/RGB images with a
  PNG ``tRNS`` colour, 16-bit alpha) is composited onto :data:`BACKGROUND`, mid-grey ``(128, 128, 128)``: the
  ``'gray'`` Brain-Score puts around stimuli when it places them on its simulated screen
  (``brainscore_vision/benchmark_helpers/screen.py``) and the usual background of the experiments. So the colour
  stored under fully transparent pixels never matters. Per pixel, with colour ``c`` and alpha ``a`` in units of
  the image's full scale ``M`` (255 or 65535): ``round(255 * (c * a + g * (M - a)) / M**2)`` with ``g`` the
  background in the same units; floats use ``round(255 * (c * a + 128/255 * (1 - a)))``.
* **EXIF orientation** is applied (``PIL.ImageOps.exif_transpose``): a person sees a photo tagged "rotate 90"
  upright on screen, so the model does too. (torchvision's and Brain-Score's loaders ignore the tag.)
* **Multi-frame** files (animated GIF, multi-page TIFF): the first frame. **ICC colour profiles** are not applied:
  pixel values are taken as sRGB, as Brain-Score and torchvision do.
* **Unreadable files**, truncated files, and images larger than ``PIL.Image.MAX_IMAGE_PIXELS`` (Pillow's
  decompression-bomb limit, about 89 million pixels by default; raise it if you trust the file) give one
  ``ValueError`` line ``cannot read stimulus '<id>' from <file>: <reason>``.

Changing any rule above changes :data:`DECODING_VERSION`, which is part of every activation-cache key through
:meth:`model_registry.Preprocessing.descriptor`.
"""
from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageOps

BACKGROUND: tuple[int, int, int] = (128, 128, 128)
"""Colour (8-bit RGB) that transparent pixels are composited onto: Brain-Score's on-screen ``'gray'``."""

DECODING_VERSION = "decode-v2"
"""Version of the rules in this module; part of activation-cache keys (bumped whenever a rule changes)."""

_EIGHT_BIT_MODES = {"1", "L", "P", "RGB", "RGBX", "CMYK", "YCbCr"}
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}
_ORIENTATION = ExifTags.Base.Orientation


class ImageDecodingError(ValueError):
    """A stimulus cannot be decoded; the message is one line naming the stimulus and its file or array."""


def decode_image(source: str | os.PathLike | np.ndarray | Image.Image, stimulus_id: str | None = None
                 ) -> Image.Image:
    """Decode one stimulus into the 8-bit RGB PIL image a model sees, by the rules of this module's docstring.

    ``source`` is a file path, a PIL image (any mode) or an array ``(H, W[, C])`` of dtype uint8, uint16, bool or
    float in [0, 1]. ``stimulus_id`` only names the stimulus in errors.
    Raises :class:`ImageDecodingError` (a ``ValueError``), one line naming the stimulus and the file, for
    unreadable, truncated, oversized (decompression bomb) or unsupported images.
    """
    if isinstance(source, (str, os.PathLike)):
        return _decode_file(Path(source), stimulus_id)
    where = _where(stimulus_id, source)
    if isinstance(source, Image.Image):
        return _decode_pil(source, where)
    if isinstance(source, np.ndarray):
        return Image.fromarray(array_to_rgb8(source, stimulus_id))
    raise TypeError(f"{where}: cannot decode a {type(source).__name__}; expected a path, an array or a PIL image")


def decode_like_brainscore(source: str | os.PathLike | np.ndarray | Image.Image, stimulus_id: str | None = None
                           ) -> Image.Image:
    """Decode one stimulus as Brain-Score's ``load_image`` (``brainscore_vision.model_helpers.activations.pytorch``)
    does, for models whose preprocessing is Brain-Score's ``load_preprocess_images``: the file opened by PIL, and a
    grey, alpha or palette mode converted with ``Image.convert('RGB')`` (alpha dropped, not composited; no EXIF
    rotation). Files go through Brain-Score's own function. Raises :class:`ImageDecodingError` when the file cannot
    be read or the result is not RGB (e.g. CMYK or 16-bit modes, which Brain-Score passes on unconverted)."""
    where = _where(stimulus_id, source)
    try:
        if isinstance(source, (str, os.PathLike)):
            from brainscore_vision.model_helpers.activations.pytorch import load_image

            image = load_image(str(source))
        else:
            image = source if isinstance(source, Image.Image) else Image.fromarray(array_to_rgb8(source, stimulus_id))
            mode = image.mode.upper()
            image = image.convert("RGB") if ("L" in mode or "A" in mode or "P" in mode) else image.copy()
    except (OSError, ValueError, SyntaxError) as error:
        raise ImageDecodingError(f"{where}: cannot be read as Brain-Score reads images ({error})") from None
    if image.mode != "RGB":
        raise ImageDecodingError(f"{where}: Brain-Score's loader leaves it in mode {image.mode!r}, not RGB; its "
                                 "pixels cannot be reproduced")
    return image


def array_to_rgb8(array: np.ndarray, stimulus_id: str | None = None) -> np.ndarray:
    """An image array ``(H, W)``, ``(H, W, 1|2|3|4)`` -> ``(H, W, 3)`` uint8 RGB, by this module's rules.

    Raises :class:`ImageDecodingError` for unsupported shapes or dtypes and for float values outside [0, 1].
    """
    return _array_to_rgb8(np.asarray(array), _where(stimulus_id, array))


def check_image_array(array: np.ndarray, stimulus_id: str | None = None) -> None:
    """Check an image array's shape, dtype and (floats) value range without decoding it.

    Raises :class:`ImageDecodingError`, one line naming the stimulus, with what was found and what is expected.
    """
    _full_scale(_image_shaped(np.asarray(array), _where(stimulus_id, array)), _where(stimulus_id, array))


def _image_shaped(array: np.ndarray, where: str) -> np.ndarray:
    """``array`` as ``(H, W, C)``, C in 1..4, or an error."""
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 2, 3, 4):
        hint = "; it looks channel-first, transpose it to (H, W, C)" if array.ndim == 3 and array.shape[0] in (
            1, 3, 4) else ""
        raise ImageDecodingError(f"{where}: expected an (H, W), (H, W, 3) or (H, W, 4) image array, got shape "
                                 f"{array.shape}{hint}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageDecodingError(f"{where}: the image array is empty (shape {array.shape})")
    return array


def _array_to_rgb8(array: np.ndarray, where: str) -> np.ndarray:
    array = _image_shaped(array, where)
    full = _full_scale(array, where)
    channels = array.shape[-1]
    if array.dtype == np.uint8 and channels == 3:
        return np.ascontiguousarray(array)
    colour = array[..., :1 if channels < 3 else 3]
    colour = np.repeat(colour, 3, axis=-1) if colour.shape[-1] == 1 else colour
    alpha = array[..., -1] if channels in (2, 4) else None
    return composite(colour, alpha, full)


def composite(colour: np.ndarray, alpha: np.ndarray | None, full: float) -> np.ndarray:
    """``(H, W, 3)`` colour and ``(H, W)`` alpha in units where ``full`` is white / opaque -> ``(H, W, 3)`` uint8.

    Without alpha: ``round(255 * colour / full)``; with alpha, composited onto :data:`BACKGROUND` (see the module
    docstring). For integer inputs every product is exact in float64 and the rounding has no ties.
    """
    colour = np.asarray(colour, dtype=np.float64)
    if alpha is None:
        out = colour * (255.0 / full)
    else:
        alpha = np.asarray(alpha, dtype=np.float64)[..., None]
        background = np.asarray(BACKGROUND, dtype=np.float64) * (full / 255.0)
        out = (colour * alpha + background * (full - alpha)) * (255.0 / (full * full))
    return np.rint(out).astype(np.uint8)


def image_size(path: str | os.PathLike, stimulus_id: str | None = None) -> tuple[int, int]:
    """``(width, height)`` of an image file from its header, checking it is readable and not a decompression bomb.

    Cheap (the pixels are not decoded); raises :class:`ImageDecodingError` like :func:`decode_image`.
    """
    path = Path(path)
    with _opened(path, stimulus_id) as image:
        return image.size


# --------------------------------------------------------------------------------------------------------------


class _opened:
    """``with _opened(path, id) as image``: Image.open with every failure turned into one ImageDecodingError."""

    def __init__(self, path: Path, stimulus_id: str | None):
        self.path, self.stimulus_id, self.image = path, stimulus_id, None

    @property
    def where(self) -> str:
        name = "" if self.stimulus_id is None else f" {self.stimulus_id!r}"
        return f"cannot read stimulus{name} from {self.path}"

    def fail(self, reason: str) -> ImageDecodingError:
        return ImageDecodingError(f"{self.where}: {_one_line(reason)}")

    def __enter__(self) -> Image.Image:
        try:
            self.image = Image.open(self.path)
        except Image.DecompressionBombError as error:
            raise self.fail(f"{error} (a decompression bomb by Pillow's limit)") from None
        except Image.DecompressionBombWarning as error:  # raised when warnings are turned into errors
            raise self.fail(f"{error} (a decompression bomb by Pillow's limit)") from None
        except (OSError, ValueError, SyntaxError, EOFError, struct.error, zlib.error) as error:
            raise self.fail(f"{type(error).__name__}: {error}") from None
        limit = Image.MAX_IMAGE_PIXELS
        width, height = self.image.size
        if limit is not None and width * height > limit:
            self.image.close()
            raise self.fail(f"{width} x {height} = {width * height} pixels exceeds PIL.Image.MAX_IMAGE_PIXELS = "
                            f"{limit} (a decompression bomb by Pillow's limit; raise it if you trust the file)")
        return self.image

    def __exit__(self, kind, error, traceback) -> bool:
        self.image.close()
        if error is not None and not isinstance(error, ImageDecodingError) and isinstance(
                error, (OSError, ValueError, SyntaxError, EOFError, struct.error, zlib.error)):
            raise self.fail(f"{type(error).__name__}: {error}") from error
        return False


def _decode_file(path: Path, stimulus_id: str | None) -> Image.Image:
    guard = _opened(path, stimulus_id)
    with guard as image:
        image.load()  # inside the guard: truncated and corrupt data fail here
        decoded = _decode_pil(image, guard.where)
        return image.copy() if decoded is image else decoded  # the file's own image dies with close()


def _decode_pil(image: Image.Image, where: str) -> Image.Image:
    try:
        orientation = image.getexif().get(_ORIENTATION, 1)
    except Exception:  # noqa: BLE001 - a damaged EXIF block means "no orientation", as in image viewers
        orientation = 1
    if orientation not in (1, None):
        image = ImageOps.exif_transpose(image)
    mode = image.mode
    transparent = image.has_transparency_data
    if mode == "RGB" and not transparent:
        return image
    if mode in _SIXTEEN_BIT_MODES:
        return Image.fromarray(_sixteen_bit(image, where))
    if mode == "F":
        return Image.fromarray(_array_to_rgb8(np.asarray(image), where))
    if mode in _ALPHA_MODES or (mode in _EIGHT_BIT_MODES and transparent):
        rgba = np.asarray(image.convert("RGBA"))
        return Image.fromarray(composite(rgba[..., :3], rgba[..., 3], 255))
    if mode in _EIGHT_BIT_MODES:
        return image.convert("RGB")
    raise ImageDecodingError(f"{where}: unsupported image mode {mode!r}; save it as 8- or 16-bit RGB, grey or RGBA")


def _sixteen_bit(image: Image.Image, where: str) -> np.ndarray:
    """``I;16*`` / ``I`` image -> (H, W, 3) uint8, scaled by 65535 and composited if it has a tRNS grey value."""
    if image.mode == "I" and image.format != "PPM":
        raise ImageDecodingError(f"{where}: 32-bit integer image (mode 'I') has no known white point; save it as "
                                 "8- or 16-bit, or pass it as a float array in [0, 1]")
    grey = np.asarray(image).astype(np.int64)  # (H, W)
    low, high = int(grey.min()), int(grey.max())
    if low < 0 or high > 65535:
        raise ImageDecodingError(f"{where}: 16-bit image with values {low}..{high} outside 0..65535")
    colour = np.repeat(grey[..., None], 3, axis=-1)
    key = image.info.get("transparency")
    alpha = None if not isinstance(key, int) else np.where(grey == key, 0, 65535)
    return composite(colour, alpha, 65535)


def _full_scale(array: np.ndarray, where: str) -> float:
    """The value that means white / opaque for ``array``'s dtype; checks float ranges."""
    if array.dtype == np.uint8:
        return 255
    if array.dtype == np.uint16:
        return 65535
    if array.dtype == np.bool_:
        return 1
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ImageDecodingError(f"{where}: the image holds NaN or infinite pixel values")
        low, high = float(array.min()), float(array.max())
        if low < 0.0 or high > 1.0:
            raise ImageDecodingError(f"{where}: float pixels must lie in [0, 1], found {low:g}..{high:g}; divide "
                                     "0..255 data by 255 or convert it to uint8")
        return 1.0
    raise ImageDecodingError(f"{where}: unsupported pixel dtype {array.dtype}; use uint8 (0..255), uint16 "
                             "(0..65535) or float in [0, 1]")


def _where(stimulus_id: str | None, source) -> str:
    name = "image" if stimulus_id is None else f"stimulus {stimulus_id!r}"
    if isinstance(source, (str, os.PathLike)):
        return f"{name} ({source})"
    if isinstance(source, np.ndarray):
        return f"{name} (in-memory {source.dtype} array {source.shape})"
    if isinstance(source, Image.Image):
        return f"{name} (in-memory PIL image, mode {source.mode})"
    return name


def _one_line(text: str) -> str:
    return " ".join(str(text).split())
