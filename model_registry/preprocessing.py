"""Image preprocessing specs: how a model wants its pixels (size, resize mode, normalisation).

Every image is first decoded to 8-bit RGB by :func:`model_registry.image_decoding.decode_image` (16-bit and
float scaling, transparency onto mid-grey, EXIF orientation), so a PIL image handed straight to a
:class:`Preprocessing` reaches the model exactly as the same file given as a stimulus.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch, PIL and the decoder load when images are processed, not when a spec is declared
    import torch
    from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """Turns a PIL image into a normalised ``(3, image_size, image_size)`` float tensor.

    ``resize='resize'`` squashes the whole image to ``image_size`` (the ReAlnet protocol);
    ``resize='resize_crop'`` resizes the short side to ``resize_size`` (default ``round(image_size /
    crop_fraction)``) then centre-crops (torchvision/Brain-Score style; timm's ``crop_mode='center'`` with
    ``resize_size = floor(image_size / crop_pct)``); ``resize='squash_crop'`` squashes the whole image to
    ``resize_size`` x ``resize_size`` then centre-crops (timm's ``crop_mode='squash'``).
    ``crop_fraction`` must be in (0, 1] and ``resize_size`` at least ``image_size``: a larger crop than the resized
    image would pad it with black (``ValueError``). ``decoder``: ``'realnet'`` (:func:`~.image_decoding.decode_image`:
    transparency onto grey, EXIF rotation, 16-bit scaling) or ``'brainscore'``
    (:func:`~.image_decoding.decode_like_brainscore`, for Brain-Score's ``load_preprocess_images``: alpha dropped,
    no rotation).
    """

    image_size: int = 224
    resize: str = "resize"
    crop_fraction: float = 0.875
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    interpolation: str = "bilinear"
    resize_size: int | None = None
    decoder: str = "realnet"

    def __post_init__(self):
        if self.resize not in ("resize", "resize_crop", "squash_crop"):
            raise ValueError(f"resize must be 'resize', 'resize_crop' or 'squash_crop', got {self.resize!r}")
        if self.image_size < 8:
            raise ValueError(f"image_size must be >= 8 pixels, got {self.image_size}")
        if isinstance(self.crop_fraction, bool) or not 0 < self.crop_fraction <= 1:
            raise ValueError(f"crop_fraction must be in (0, 1] (the crop's share of the resized image, e.g. 224 / 256 "
                             f"= 0.875), got {self.crop_fraction!r}")
        if self.resize_size is not None and (isinstance(self.resize_size, bool) or not isinstance(self.resize_size, int)
                                             or self.resize_size < self.image_size):
            raise ValueError(f"resize_size must be an integer >= image_size={self.image_size} (the crop is taken "
                             f"from the resized image), got {self.resize_size!r}")
        if self.decoder not in ("realnet", "brainscore"):
            raise ValueError(f"decoder must be 'realnet' or 'brainscore', got {self.decoder!r}")
        if self.resize == "squash_crop" and self.resize_size is None:
            raise ValueError("resize='squash_crop' needs resize_size (the square the image is squashed to)")

    @property
    def scale_size(self) -> int:
        """The resized short side (``resize_crop``) or square side (``squash_crop``) the crop is taken from."""
        return self.resize_size if self.resize_size is not None else round(self.image_size / self.crop_fraction)

    def to_pixels(self, image: Image.Image) -> torch.Tensor:
        """Decode (:func:`~.image_decoding.decode_image`), resize (and crop) to ``(3, image_size, image_size)``
        floats in [0, 1], before normalisation. Raises ``ValueError`` for images that cannot be decoded."""
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms import functional as F

        from .image_decoding import decode_image, decode_like_brainscore

        mode = InterpolationMode(self.interpolation)
        image = decode_image(image) if self.decoder == "realnet" else decode_like_brainscore(image)
        if self.resize == "resize":
            image = F.resize(image, [self.image_size, self.image_size], interpolation=mode)
        else:
            size = self.scale_size
            image = F.resize(image, size if self.resize == "resize_crop" else [size, size], interpolation=mode)
            image = F.center_crop(image, [self.image_size, self.image_size])
        return F.to_tensor(image)

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        """Normalise ``(..., 3, H, W)`` pixels in [0, 1] with this spec's mean and std."""
        import torch

        mean = torch.as_tensor(self.mean, dtype=pixels.dtype, device=pixels.device).view(3, 1, 1)
        std = torch.as_tensor(self.std, dtype=pixels.dtype, device=pixels.device).view(3, 1, 1)
        return (pixels - mean) / std

    def __call__(self, image: Image.Image) -> torch.Tensor:
        """Decoded, resized and normalised ``(3, image_size, image_size)`` float tensor of ``image``."""
        return self.normalize(self.to_pixels(image))

    def descriptor(self) -> str:
        """Stable text form, part of activation cache keys; includes the image decoding rules' version."""
        from .image_decoding import DECODING_VERSION

        fields = {**asdict(self), "decoding": DECODING_VERSION}
        for name, default in (("resize_size", None), ("decoder", "realnet")):  # unchanged descriptors (and caches)
            if fields[name] == default:  # for specs that keep the default
                del fields[name]
        return ",".join(f"{key}={value}" for key, value in sorted(fields.items()))
