"""realnet-plugin: human-brain alignment for vision models (ReAlnet, EEG/fMRI RSA benchmarks, a model registry).

>>> import realnet_plugin
>>> realnet_plugin.score(model='realnet_s01_b100', benchmark='things-eeg-rsa')  # doctest: +SKIP
"""
import warnings

# brainscore_core's Score subclass triggers this xarray FutureWarning on import; it says nothing to our users.
warnings.filterwarnings("ignore", message="xarray subclass .* should explicitly define __slots__")

from ._shadowing import check_packages  # noqa: E402

check_packages()  # a user's own benchmarks/ or model_registry/ folder must not replace ours silently

from .api import list_benchmarks, list_models, load_benchmark, load_model, score  # noqa: E402

__version__ = "0.1.0"
__all__ = ["list_benchmarks", "list_models", "load_benchmark", "load_model", "score"]
