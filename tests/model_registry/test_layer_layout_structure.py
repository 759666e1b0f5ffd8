"""The layer layout of an extractor assembly travels as its neuroid coordinates, not as JSON in attrs (issue 13
section 3): attrs can be dropped (netCDF, xarray operations) and the blocks are still found."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from model_registry import extract, layer_blocks


def test_layer_blocks_come_from_the_neuroid_coordinate(image_files):
    torch.manual_seed(0)
    network = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, stride=2), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(2),
                                  torch.nn.Flatten())
    assembly = extract(network, image_files[:3], ["0", "2"], cache=False, progress=False)
    assert "layer_blocks" not in assembly.attrs
    layers = assembly["layer"].values
    blocks = layer_blocks(assembly)
    assert list(blocks) == ["0", "2"]
    for name, block in blocks.items():  # second path: select by the coordinate itself
        np.testing.assert_array_equal(block, assembly.values[:, layers == name])
    assert blocks["2"].shape == (3, 16)  # 4 channels x 2 x 2
    assembly.attrs.clear()
    assert {k: v.shape for k, v in layer_blocks(assembly).items()} == {k: v.shape for k, v in blocks.items()}

    mixed = assembly.isel(neuroid=np.r_[0:5, assembly.sizes["neuroid"] - 3:assembly.sizes["neuroid"], 5:8])
    with pytest.raises(ValueError, match=r"layer blocks that are not contiguous \(\['0', '2', '0'\]\)"):
        layer_blocks(mixed)
