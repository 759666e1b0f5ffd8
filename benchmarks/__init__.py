"""Benchmarks: one package per benchmark plus the shared RSA metrics (``benchmarks.rsa``).

Importing this package declares every benchmark id (:func:`~benchmarks.registry.declare_benchmarks`) without
importing the benchmark packages (nor torch, xarray or brainscore_vision): ``list_benchmarks()`` reads the
declarations, and a benchmark's package is imported when it is loaded. Declarations must equal what the packages
register (tests/benchmarks/test_lazy_listing.py checks it); a new benchmark is declared here too.
It changes nothing in ``brainscore_vision`` (``realnet_plugin.brainscore.install()``, run by ``import realnet_plugin``,
lists the ids there).
"""
import importlib
import importlib.util

from .registry import declare_benchmarks, list_benchmarks, load_benchmark, register_benchmark, register_benchmark_family

declare_benchmarks("benchmarks.kriegeskorte2008", ["kriegeskorte2008-hit-rsa"])
declare_benchmarks("benchmarks.robustness", ["fgsm-robustness", "pgd-robustness"])
declare_benchmarks("benchmarks.shen2019", ["shen2019-fmri-roi"], families=[
    (r"shen2019-fmri-roi\.[A-Za-z0-9_]+", [f"shen2019-fmri-roi.{roi}" for roi in ("V1", "V2", "V3", "V4", "HVC")])])
declare_benchmarks("benchmarks.things_eeg_rsa", ["things-eeg-rsa"], families=[
    (r"things-eeg-rsa-[a-z\-]+", [f"things-eeg-rsa-{method}" for method in
                                  ("correlation", "euclidean", "crossnobis", "decoding-lda", "decoding-svm")])])
declare_benchmarks("benchmarks.things_fmri", ["things-fmri-roi"], families=[
    (r"things-fmri-roi\.[A-Za-z0-9_]+", [f"things-fmri-roi.{roi}" for roi in
                                         ("V1", "V2", "V3", "hV4", "LOC", "FFA", "PPA", "EBA", "IT")])])


def __getattr__(name: str):
    """PEP 562: a subpackage (``benchmarks.things_eeg_rsa``) imported on first attribute access."""
    if importlib.util.find_spec(f"{__name__}.{name}") is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return importlib.import_module(f".{name}", __name__)


__all__ = ["declare_benchmarks", "list_benchmarks", "load_benchmark", "register_benchmark",
           "register_benchmark_family"]
