"""One decoding path for every stimulus: each variant of one picture reaches the model as a person sees it.

Every variant is built here from one 8-bit RGB photo (scikit-image's astronaut); the pixels it should decode to
are computed independently in numpy (integer formulas, palette look-ups), and the features of pretrained
EfficientNet-Lite0 for each variant must correlate >= 0.99 with those of its plain 8-bit RGB twin (the old
decoding gave r = -0.02 for a 16-bit PNG and r = 0.73 for RGBA files differing only under transparent pixels).
"""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image
from skimage import data

from model_registry import Preprocessing, as_stimuli
from model_registry.image_decoding import BACKGROUND, DECODING_VERSION, decode_image
from model_registry.registry import get_spec

GREY = 128  # the documented background, Brain-Score's on-screen 'gray'


@pytest.fixture(scope="module")
def base() -> np.ndarray:
    """The 8-bit RGB photo every variant is made from: (96, 96, 3) uint8."""
    return np.asarray(Image.fromarray(data.astronaut()).resize((96, 96), Image.BILINEAR))


@pytest.fixture(scope="module")
def alpha() -> np.ndarray:
    """(96, 96) uint8: a fully transparent band, a half-transparent patch, the rest opaque."""
    mask = np.full((96, 96), 255, np.uint8)
    mask[:, :30] = 0
    mask[20:50, 30:70] = 128
    mask[60:70, 40:90] = 7
    return mask


def over_grey(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Integer reference: round((c * a + 128 * (255 - a)) / 255), exact (no ties are possible)."""
    c, a = colour.astype(np.int64), alpha.astype(np.int64)[..., None]
    return ((c * a + GREY * (255 - a) + 127) // 255).astype(np.uint8)


def scale16(values: np.ndarray) -> np.ndarray:
    """Integer reference: round(v / 65535 * 255)."""
    return ((values.astype(np.int64) * 255 + 32767) // 65535).astype(np.uint8)


def write_png(path: Path, pixels: np.ndarray, colour_type: int, bit_depth: int, trns: bytes | None = None) -> Path:
    """A minimal PNG writer (no Pillow), for 16-bit files Pillow cannot write: grey 16 + tRNS, RGB 48."""
    height, width = pixels.shape[:2]
    dtype = ">u2" if bit_depth == 16 else "u1"
    raw = b"".join(b"\x00" + np.ascontiguousarray(pixels[y]).astype(dtype).tobytes() for y in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    body = chunk(b"IHDR", header) + (chunk(b"tRNS", trns) if trns else b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def variants(base, alpha, tmp_path_factory) -> dict[str, tuple[object, np.ndarray, np.ndarray, int]]:
    """name -> (source, expected decoded pixels, plain 8-bit RGB twin, allowed mean |decoded - twin| in levels)."""
    folder = tmp_path_factory.mktemp("variants")
    rng = np.random.default_rng(0)
    out = {}
    grey8 = np.asarray(Image.fromarray(base).convert("L"))
    grey_rgb = np.repeat(grey8[..., None], 3, axis=-1)

    # 16-bit grey PNG: a real 16-bit picture (8-bit grey * 257 plus sub-level detail)
    grey16 = np.clip(grey8.astype(np.int64) * 257 + rng.integers(-128, 129, grey8.shape), 0, 65535).astype(np.uint16)
    Image.fromarray(grey16).save(folder / "grey16.png")
    expected = np.repeat(scale16(grey16)[..., None], 3, axis=-1)
    np.testing.assert_array_equal(expected, grey_rgb)  # the sub-level detail rounds away: its twin is grey8
    out["grey16_png"] = (folder / "grey16.png", expected, grey_rgb, 0)
    out["grey16_tiff"] = (_saved(Image.fromarray(grey16), folder / "grey16.tif"), expected, grey_rgb, 0)
    # 16-bit RGB as a numpy array
    rgb16 = np.clip(base.astype(np.int64) * 257 + rng.integers(-128, 129, base.shape), 0, 65535).astype(np.uint16)
    out["rgb16_array"] = (rgb16, scale16(rgb16), base, 0)
    # 48-bit RGB PNG: Pillow keeps the high byte, within one level of the scaling rule
    out["rgb48_png"] = (write_png(folder / "rgb48.png", rgb16, 2, 16), (rgb16 >> 8).astype(np.uint8), base, 1)
    # 16-bit grey PNG with a tRNS grey value: those pixels become the background
    key = int(grey16[0, 0])
    trns = write_png(folder / "grey16_trns.png", grey16, 0, 16, trns=struct.pack(">H", key))
    expected = np.where((grey16 == key)[..., None], np.uint8(GREY), np.repeat(scale16(grey16)[..., None], 3, -1))
    out["grey16_trns_png"] = (trns, expected, expected, 0)
    # float32: a grey TIFF (mode F) and an RGB array, in [0, 1]
    grey_float = (grey8 / 255.0).astype(np.float32)
    tifffile.imwrite(folder / "grey_float.tif", grey_float)
    out["float_tiff"] = (folder / "grey_float.tif", grey_rgb, grey_rgb, 0)
    rgb_float = (base / 255.0).astype(np.float32)
    out["float_array"] = (rgb_float, base, base, 0)
    # RGBA: different colours under fully transparent pixels must not matter
    noise = rng.integers(0, 256, base.shape, dtype=np.uint8)
    composite = over_grey(base, alpha)
    Image.fromarray(np.dstack([base, alpha])).save(folder / "rgba_a.png")
    Image.fromarray(np.dstack([np.where(alpha[..., None] == 0, noise, base), alpha])).save(folder / "rgba_b.png")
    out["rgba_a_png"] = (folder / "rgba_a.png", composite, composite, 0)
    out["rgba_b_png"] = (folder / "rgba_b.png", composite, composite, 0)
    out["rgba_array"] = (np.dstack([base, alpha]), composite, composite, 0)
    rgba16 = np.dstack([rgb16, alpha.astype(np.uint16) * 257])  # 16-bit alpha, same opacity as the 8-bit one
    c16, a16 = rgb16.astype(np.int64), rgba16[..., 3:].astype(np.int64)  # 16-bit integer reference, no ties
    numerator = 255 * (c16 * a16 + GREY * 257 * (65535 - a16))
    expected = ((numerator + 65535**2 // 2) // 65535**2).astype(np.uint8)
    assert np.abs(expected.astype(int) - over_grey(scale16(rgb16), alpha)).max() == 1  # not the 8-bit rounding
    out["rgba16_array"] = (rgba16, expected, composite, 1)
    # LA
    Image.fromarray(np.dstack([grey8, alpha]), "LA").save(folder / "la.png")
    grey_composite = over_grey(grey_rgb, alpha)
    out["la_png"] = (folder / "la.png", grey_composite, grey_composite, 0)
    # palette, without and with transparency (index 3 transparent, index 5 half transparent)
    palette_image = Image.fromarray(base).quantize(64, dither=Image.Dither.NONE)
    indices = np.asarray(palette_image)
    colours = np.asarray(palette_image.getpalette()[: 3 * 256], np.uint8).reshape(-1, 3)
    palette_image.save(folder / "palette.png")
    out["palette_png"] = (folder / "palette.png", colours[indices], colours[indices], 0)  # twin: its colours
    index_alpha = np.full(256, 255, np.uint8)
    index_alpha[[3, 5]] = [0, 100]
    palette_image.save(folder / "palette_trns.png", transparency=bytes(index_alpha))
    expected = over_grey(colours[indices], index_alpha[indices])
    assert (index_alpha[indices] < 255).sum() > 50  # the transparent indices are used
    out["palette_trns_png"] = (folder / "palette_trns.png", expected, expected, 0)
    # grey PNG, CMYK JPEG (Pillow: round((255 - C) * (255 - K) / 255)), EXIF-rotated PNG
    Image.fromarray(grey8).save(folder / "grey.png")
    out["grey_png"] = (folder / "grey.png", grey_rgb, grey_rgb, 0)
    Image.fromarray(base).convert("CMYK").save(folder / "cmyk.jpg", quality=100)
    with Image.open(folder / "cmyk.jpg") as cmyk_file:
        assert cmyk_file.mode == "CMYK"
        cmyk = np.asarray(cmyk_file).astype(np.int64)
    expected = ((255 - cmyk[..., :3]) * (255 - cmyk[..., 3:]) + 127) // 255
    out["cmyk_jpeg"] = (folder / "cmyk.jpg", expected.astype(np.uint8), base, 3)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    Image.fromarray(np.rot90(base, k=1)).save(folder / "rotated.png", exif=exif)
    out["exif_rotated_png"] = (folder / "rotated.png", base, base, 0)
    return out


def _saved(image: Image.Image, path: Path) -> Path:
    image.save(path)
    return path


def test_every_variant_decodes_to_the_independently_computed_pixels(variants):
    for name, (source, expected, twin, tolerance) in variants.items():
        decoded = np.asarray(decode_image(source, name))
        assert decoded.dtype == np.uint8 and decoded.shape == expected.shape, name
        np.testing.assert_array_equal(decoded, expected, err_msg=name)
        difference = np.abs(decoded.astype(int) - twin.astype(int)).mean()
        assert difference <= tolerance, (name, difference)


def test_rgba_files_that_look_the_same_decode_the_same(variants, base, alpha):
    a = np.asarray(decode_image(variants["rgba_a_png"][0]))
    b = np.asarray(decode_image(variants["rgba_b_png"][0]))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[alpha == 0], np.full(((alpha == 0).sum(), 3), BACKGROUND, np.uint8))
    np.testing.assert_array_equal(a[alpha == 255], base[alpha == 255])


def test_16_bit_scaling_is_exact_at_every_level():
    levels = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    decoded = np.asarray(decode_image(levels))[..., 0].astype(np.int64)
    exact = np.array([round(v * 255 / 65535) for v in range(65536)]).reshape(256, 256)  # Python's round
    np.testing.assert_array_equal(decoded, exact)
    assert decoded.max() == 255 and (decoded == 255).sum() == 129  # scaled, not clipped (all white before)


@pytest.fixture(scope="module")
def lite0():
    spec = get_spec("efficientnet_lite0")
    network = spec.build(pretrained=True).eval()
    features = {}
    network.blocks[5].register_forward_hook(lambda module, inputs, output: features.update(out=output.flatten(1)))
    return spec.preprocessing, network, features


def test_features_of_each_variant_match_its_8_bit_rgb_twin(variants, lite0):
    preprocessing, network, features = lite0
    names = list(variants)
    decoded = [preprocessing(decode_image(variants[name][0], name)) for name in names]
    twins = [preprocessing(Image.fromarray(variants[name][2])) for name in names]
    with torch.no_grad():
        network(torch.stack(decoded + twins))
    values = features["out"].numpy()
    for i, name in enumerate(names):
        r = np.corrcoef(values[i], values[len(names) + i])[0, 1]
        assert r >= 0.99, (name, r)


def test_preprocessing_and_stimuli_decode_the_same_way(variants, tmp_path):
    """A PIL image handed straight to Preprocessing and the same file as a stimulus give the same tensor."""
    preprocessing = Preprocessing(64)
    for name in ("grey16_png", "rgba_b_png", "palette_trns_png", "exif_rotated_png", "cmyk_jpeg"):
        path = variants[name][0]
        via_stimuli = preprocessing(as_stimuli([path]).image(0))
        with Image.open(path) as image:
            direct = preprocessing(image)
        reference = preprocessing(Image.fromarray(variants[name][1]))
        torch.testing.assert_close(direct, via_stimuli, rtol=0, atol=0)
        torch.testing.assert_close(direct, reference, rtol=0, atol=0)
    assert f"decoding={DECODING_VERSION}" in preprocessing.descriptor()


def test_palette_images_with_other_palettes_hash_differently(base):
    one = Image.fromarray(base).quantize(16)
    other = one.copy()
    other.putpalette(bytes(255 - np.asarray(one.getpalette(), np.uint8)))
    assert np.array_equal(np.asarray(one), np.asarray(other))  # same indices ...
    assert as_stimuli([one]).content_hash() != as_stimuli([other]).content_hash()  # ... other pictures


@pytest.mark.parametrize("make, reason", [
    (lambda p: p.write_bytes(b"not an image at all"), "cannot identify image file"),
    (lambda p: p.write_bytes(b""), "cannot identify image file"),
    (lambda p: p.write_bytes(_png_bytes()[:-40]), "truncated|broken|EOF|error"),
])
def test_unreadable_files_give_one_line_naming_stimulus_and_file(tmp_path, make, reason):
    path = tmp_path / "broken.png"
    make(path)
    stimuli = as_stimuli({"stim_7": path})
    with pytest.raises(ValueError, match=f"cannot read stimulus 'stim_7' from {path}: .*({reason})") as error:
        stimuli.image(0)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("limit", [1000, 3000])  # 64 x 64 = 4096 pixels: Pillow's error (> 2x) and warning range
def test_decompression_bombs_give_the_same_one_line_error(tmp_path, monkeypatch, limit):
    path = tmp_path / "big.png"
    path.write_bytes(_png_bytes())
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    stimuli = as_stimuli({"bomb": path})
    with pytest.warns(Image.DecompressionBombWarning) if limit == 3000 else _nothing():
        with pytest.raises(ValueError, match=f"cannot read stimulus 'bomb' from {path}: .*decompression bomb"):
            stimuli.check()
    with pytest.warns(Image.DecompressionBombWarning) if limit == 3000 else _nothing():
        with pytest.raises(ValueError, match=f"cannot read stimulus 'bomb' from {path}: .*decompression bomb"):
            stimuli.image(0)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5000)
    assert decode_image(path).size == (64, 64)


def test_images_without_a_white_point_are_refused_before_decoding(tmp_path):
    grey = np.arange(64 * 64).reshape(64, 64)
    with pytest.raises(ValueError, match=r"stimulus 'image_0000' .*unsupported pixel dtype int64; use uint8"):
        as_stimuli([grey])
    with pytest.raises(ValueError, match=r"stimulus 'x' .*float pixels must lie in \[0, 1\], found 0\.\.255"):
        as_stimuli({"x": np.linspace(0, 255, 300, dtype=np.float32).reshape(10, 30)})
    with pytest.raises(ValueError, match="NaN or infinite"):
        as_stimuli([np.full((4, 4, 3), np.nan)])
    with pytest.raises(ValueError, match=r"got shape \(3, 32, 32\); it looks channel-first"):
        as_stimuli([np.zeros((3, 32, 32), np.uint8)])
    Image.fromarray(grey.astype(np.int32)).save(tmp_path / "int32.tif")  # mode I: no known white point
    with pytest.raises(ValueError, match=f"cannot read stimulus 'int32' from {tmp_path / 'int32.tif'}: 32-bit"):
        as_stimuli([tmp_path / "int32.tif"]).image(0)


def test_16_bit_pgm_uses_its_maxval(tmp_path):
    values = np.array([[0, 1000, 4095, 2000]])
    (tmp_path / "twelve_bit.pgm").write_bytes(b"P5 4 1 4095\n" + values.astype(">u2").tobytes())
    decoded = np.asarray(decode_image(tmp_path / "twelve_bit.pgm"))[0, :, 0]
    np.testing.assert_array_equal(decoded, [round(v / 4095 * 255) for v in values[0]])


def _png_bytes() -> bytes:
    import io

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *args):
        return False
