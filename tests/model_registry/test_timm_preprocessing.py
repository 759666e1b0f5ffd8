"""``timm:<name>`` preprocessing equals timm's own eval transform (``create_transform(**resolve_data_config())``) on
non-square images, for each crop rule timm's configs use; crop fractions and resize sizes that would pad are
refused."""
from __future__ import annotations

import numpy as np
import pytest
import timm
from PIL import Image

from model_registry import Preprocessing
from model_registry.timm_models import timm_preprocessing


def timm_transform(name: str):
    config = timm.data.resolve_data_config(pretrained_cfg=timm.models.get_pretrained_cfg(name).to_dict())
    return timm.data.create_transform(**config)


@pytest.mark.parametrize("name", [
    "vit_tiny_patch16_224",  # centre crop, crop_pct 0.9: short side floor(224 / 0.9) = 248, not round() = 249
    "resnet50",  # crop_pct 0.95
    "vit_base_patch16_384",  # crop_pct 1.0: short side 384 then a centre crop, not a squash
    "efficientnet_b0",  # crop_pct 0.875
    "dm_nfnet_f0",  # crop_mode 'squash' with crop_pct < 1
    "coat_lite_medium_384",  # crop_mode 'squash' with crop_pct 1
])
def test_timm_preprocessing_equals_timms_eval_transform(name, tmp_path):
    rng = np.random.default_rng(0)
    ours = timm_preprocessing(name)
    reference = timm_transform(name)
    for size in ((300, 200), (180, 260)):
        image = Image.fromarray(rng.integers(0, 256, (*size[::-1], 3), dtype=np.uint8))
        expected = reference(image).numpy()
        np.testing.assert_allclose(ours(image).numpy(), expected, atol=1e-5)


def test_crops_that_would_pad_are_refused():
    with pytest.raises(ValueError, match=r"crop_fraction must be in \(0, 1\] .* got 1.142"):
        Preprocessing(224, resize="resize_crop", crop_fraction=256 / 224)  # torchvision's ratio, inverted
    with pytest.raises(ValueError, match="resize_size must be an integer >= image_size=224"):
        Preprocessing(224, resize="resize_crop", resize_size=200)
    with pytest.raises(ValueError, match="resize='squash_crop' needs resize_size"):
        Preprocessing(224, resize="squash_crop")
    assert "resize_size" not in Preprocessing(224).descriptor()  # unchanged descriptors: caches stay valid
    with pytest.raises(ValueError, match="crop_mode='border'"):
        timm_preprocessing("deepseek_vit_412m.deepseek_v4_1_flash")
