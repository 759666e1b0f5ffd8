"""``shen2019-fmri-roi``: model layer RDMs vs Shen et al. 2019 test-set ROI RDMs (50 images, 3 subjects).

Visual degrees: the images were shown at 12 degrees (:data:`.data.STIMULUS_DEGREES`); by default
(``place_on_screen=false``) each model sees the whole image, resized by its preprocessing (the ReAlnet paper's
protocol); ``place_on_screen=true`` places the images on the model's visual field as Brain-Score does. ``attrs``
record ``place_on_screen`` and the degrees (:mod:`benchmarks.roi_rsa`).
"""
from __future__ import annotations

from ..datasets.shen2019.data import DEFAULT_ROIS, STIMULUS_DEGREES, load_shen2019
from ..roi_rsa import RoiRsaBenchmark, patterns_to_rdms

BIBTEX = """@article{shen2019deep,
  title={Deep image reconstruction from human brain activity},
  author={Shen, Guohua and Horikawa, Tomoyasu and Majima, Kei and Kamitani, Yukiyasu},
  journal={PLoS computational biology}, volume={15}, number={1}, pages={e1006633}, year={2019}}"""


def shen2019_fmri_roi(identifier: str = "shen2019-fmri-roi", root=None, **options) -> RoiRsaBenchmark:
    """ROIs V1, V2, V3, V4, HVC (or one, ``shen2019-fmri-roi.<ROI>``); the data loader's ``nan_policy`` and
    ``require_equal_repetitions`` are options too (see :func:`load_shen2019`)."""
    rois = [identifier.split(".", 1)[1]] if "." in identifier else list(DEFAULT_ROIS)
    # the loader's data policies, named in its errors: NaN voxels, unequal repetition counts
    data_options = {key: options.pop(key) for key in ("nan_policy", "require_equal_repetitions") if key in options}
    return RoiRsaBenchmark(identifier, lambda: patterns_to_rdms(load_shen2019(root, rois=rois, **data_options),
                                                                STIMULUS_DEGREES), bibtex=BIBTEX, **options)
