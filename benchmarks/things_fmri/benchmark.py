"""``things-fmri-roi`` and ``things-fmri-roi.<ROI>``: model layer RDMs vs THINGS-fMRI ROI RDMs (100 test images).

Visual degrees: the images were shown at 10 degrees (:data:`.data.STIMULUS_DEGREES`); by default
(``place_on_screen=false``) each model sees the whole image, resized by its preprocessing (the ReAlnet paper's
protocol); ``place_on_screen=true`` places the images on the model's visual field as Brain-Score does. ``attrs``
record ``place_on_screen`` and the degrees (:mod:`benchmarks.roi_rsa`).
"""
from __future__ import annotations

from ..datasets.things_fmri.data import DEFAULT_ROIS, STIMULUS_DEGREES, load_things_fmri
from ..roi_rsa import RoiRsaBenchmark, patterns_to_rdms

BIBTEX = """@article{hebart2023things,
  title={THINGS-data, a multimodal collection of large-scale datasets for investigating object representations
         in human brain and behavior},
  author={Hebart, Martin N and Contier, Oliver and Teichmann, Lina and others},
  journal={eLife}, volume={12}, pages={e82580}, year={2023}}"""


def things_fmri_roi(identifier: str = "things-fmri-roi", root=None, **options) -> RoiRsaBenchmark:
    """All default ROIs, or one ROI for ``things-fmri-roi.<ROI>`` (options: ``layers``, ``method``, ...; the data
    loader's ``nan_policy`` and ``require_equal_repetitions``, see :func:`load_things_fmri`)."""
    rois = [identifier.split(".", 1)[1]] if "." in identifier else list(DEFAULT_ROIS)
    # the loader's data policies, named in its errors: NaN voxels, unequal repetition counts
    data_options = {key: options.pop(key) for key in ("nan_policy", "require_equal_repetitions") if key in options}
    return RoiRsaBenchmark(identifier, lambda: patterns_to_rdms(load_things_fmri(root, rois=rois, **data_options),
                                                                STIMULUS_DEGREES), bibtex=BIBTEX, **options)
