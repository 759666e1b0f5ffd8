"""THINGS-fMRI (Hebart et al. 2023) ROI RSA benchmarks: ``things-fmri-roi`` and ``things-fmri-roi.<ROI>``."""
from ..datasets.things_fmri.data import DEFAULT_ROIS
from ..registry import register_benchmark, register_benchmark_family
from ..roi_rsa import dataset_options
from .benchmark import things_fmri_roi

OPTIONS = dataset_options("the THINGS-fMRI folder (a path string)", data_policies=True)
register_benchmark("things-fmri-roi", lambda **options: things_fmri_roi("things-fmri-roi", **options),
                   options=OPTIONS)
register_benchmark_family(r"things-fmri-roi\.[A-Za-z0-9_]+", things_fmri_roi,
                          lambda: [f"things-fmri-roi.{roi}" for roi in DEFAULT_ROIS], options=OPTIONS)
