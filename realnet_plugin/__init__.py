"""realnet-plugin: human-brain alignment for vision models (ReAlnet, EEG/fMRI RSA benchmarks, a model registry).

>>> import realnet_plugin
>>> realnet_plugin.score(model='realnet_s01_b100', benchmark='things-eeg-rsa')  # doctest: +SKIP
"""
from .api import list_benchmarks, list_models, load_benchmark, load_model, score

__version__ = "0.1.0"
__all__ = ["list_benchmarks", "list_models", "load_benchmark", "load_model", "score"]
