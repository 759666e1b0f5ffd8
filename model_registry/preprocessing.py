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
    ``resize='resize_crop'`` resizes the short side to ``round(image_size / crop_fraction)`` then centre-crops
    (torchvision/Brain-Score style).
    """

    image_size: int = 224
    resize: str = "resize"
    crop_fraction: float = 0.875
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    interpolation: str = "bilinear"

    def __post_init__(self):
        if self.resize not in ("resize", "resize_crop"):
            raise ValueError(f"resize must be 'resize' or 'resize_crop', got {self.resize!r}")
        if self.image_size < 8:
            raise ValueError(f"image_size must be >= 8 pixels, got {self.image_size}")

    def to_pixels(self, image: Image.Image) -> torch.Tensor:
        """Decode (:func:`~.image_decoding.decode_image`), resize (and crop) to ``(3, image_size, image_size)``
        floats in [0, 1], before normalisation. Raises ``ValueError`` for images that cannot be decoded."""
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms import functional as F

        from .image_decoding import decode_image

        mode = InterpolationMode(self.interpolation)
        image = decode_image(image)
        if self.resize == "resize":
            image = F.resize(image, [self.image_size, self.image_size], interpolation=mode)
        else:
            image = F.resize(image, round(self.image_size / self.crop_fraction), interpolation=mode)
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
        return ",".join(f"{key}={value}" for key, value in sorted(fields.items()))
