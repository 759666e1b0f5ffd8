"""Kriegeskorte et al. 2008: 92 images, human-IT fMRI RDMs (4 subjects, sessions averaged)."""
from ..registry import register_benchmark
from ..roi_rsa import dataset_options
from .benchmark import kriegeskorte2008_hit_rsa

register_benchmark("kriegeskorte2008-hit-rsa", kriegeskorte2008_hit_rsa,
                   options=dataset_options("the Kriegeskorte 2008 folder (a path string)"))
