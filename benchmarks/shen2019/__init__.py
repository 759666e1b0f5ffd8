"""Shen et al. 2019 ROI RSA benchmark: ``shen2019-fmri-roi`` (and ``shen2019-fmri-roi.<ROI>``)."""
from ..datasets.shen2019.data import DEFAULT_ROIS
from ..registry import register_benchmark, register_benchmark_family
from ..roi_rsa import dataset_options
from .benchmark import shen2019_fmri_roi

OPTIONS = dataset_options("the Shen 2019 folder (a path string)", data_policies=True)
register_benchmark("shen2019-fmri-roi", lambda **options: shen2019_fmri_roi("shen2019-fmri-roi", **options),
                   options=OPTIONS)
register_benchmark_family(r"shen2019-fmri-roi\.[A-Za-z0-9_]+", shen2019_fmri_roi,
                          lambda: [f"shen2019-fmri-roi.{roi}" for roi in DEFAULT_ROIS], options=OPTIONS)
