"""``kriegeskorte2008-hit-rsa``: model layer RDMs vs the human-IT RDMs of the 92-image set.

Visual degrees: the images were shown at 2.9 degrees (:data:`.data.STIMULUS_DEGREES`). By default
(``place_on_screen=false``) each model sees the whole image, resized by its preprocessing (the ReAlnet paper's
protocol); ``place_on_screen=true`` places the images on the model's visual field as Brain-Score does (a model of 8
degrees sees each image as the centre 2.9/8 of a grey canvas). ``attrs`` record ``place_on_screen`` and the degrees
(:mod:`benchmarks.roi_rsa`).
"""
from __future__ import annotations

from ..datasets.kriegeskorte2008.data import STIMULUS_DEGREES, load_kriegeskorte2008
from ..roi_rsa import RoiRdms, RoiRsaBenchmark, condensed

BIBTEX = """@article{kriegeskorte2008matching,
  title={Matching categorical object representations in inferior temporal cortex of man and monkey},
  author={Kriegeskorte, Nikolaus and Mur, Marieke and Ruff, Douglas A and Kiani, Roozbeh and others},
  journal={Neuron}, volume={60}, number={6}, pages={1126--1141}, year={2008}}"""


def load_hit_rdms(root=None) -> RoiRdms:
    """Human-IT RDMs per subject (two sessions averaged): ``{'hIT': (4, 4186)}``."""
    data = load_kriegeskorte2008(root)
    return RoiRdms("kriegeskorte2008", tuple(data.subjects), {"hIT": condensed(data.subject_rdms())},
                   data.stimuli(), data.stimulus_set, STIMULUS_DEGREES)


def kriegeskorte2008_hit_rsa(root=None, **options) -> RoiRsaBenchmark:
    """The benchmark (options: ``layers``, ``method``, ``n_bootstrap``, ``seed``, ``place_on_screen``)."""
    return RoiRsaBenchmark("kriegeskorte2008-hit-rsa", lambda: load_hit_rdms(root), bibtex=BIBTEX, **options)
