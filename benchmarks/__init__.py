"""Benchmarks: one package per benchmark plus the shared RSA metrics (``benchmarks.rsa``).

Importing this package registers every benchmark id; it changes nothing in ``brainscore_vision``
(``realnet_plugin.brainscore.install()``, run by ``import realnet_plugin``, lists them there).
"""
from . import kriegeskorte2008, robustness, shen2019, things_eeg_rsa, things_fmri  # noqa: F401 (registers)
from .registry import list_benchmarks, load_benchmark, register_benchmark, register_benchmark_family

__all__ = ["list_benchmarks", "load_benchmark", "register_benchmark", "register_benchmark_family"]
