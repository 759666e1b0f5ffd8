"""realnet-plugin: human-brain alignment for vision models (ReAlnet, EEG/fMRI RSA benchmarks, a model registry).

>>> import realnet_plugin
>>> realnet_plugin.score(model='realnet_s01_b100', benchmark='things-eeg-rsa')  # doctest: +SKIP

In a Python session ``import realnet_plugin`` loads the registries and puts our model and benchmark ids into
``brainscore_vision``'s registries (the Brain-Score bridge), as it always has. In the ``realnet`` command line
(console script or ``python -m realnet_plugin.cli``) nothing heavy is imported here: each command imports torch,
the benchmarks and the registry when it runs, so ``realnet --help`` answers without them. Either way the public
names (``score``, ``load_model``, ...) resolve on first use through the module ``__getattr__`` (PEP 562).
"""
import sys
import warnings
from pathlib import Path

# brainscore_core's Score subclass triggers this xarray FutureWarning on import; it says nothing to our users.
warnings.filterwarnings("ignore", message="xarray subclass .* should explicitly define __slots__")

from ._shadowing import check_packages  # noqa: E402

check_packages()  # a user's own benchmarks/ or model_registry/ folder must not replace ours silently

_API_NAMES = ("improvement", "list_benchmarks", "list_models", "load_benchmark", "load_model", "score")
_CONSOLE_SCRIPTS = ("realnet", "realnet.exe", "realnet-script.py")
__all__ = ["__version__", *_API_NAMES]


def _started_as_cli() -> bool:
    """Whether this interpreter was started as the ``realnet`` console script or ``python -m realnet_plugin.cli``
    (then the heavy registries load when a command runs, not here)."""
    main = sys.modules.get("__main__")
    script = getattr(main, "__file__", None)
    if script and sys.argv and Path(sys.argv[0]).name in _CONSOLE_SCRIPTS and Path(script).name in _CONSOLE_SCRIPTS:
        return True
    argv = list(getattr(sys, "orig_argv", ()))
    return any(flag == "-m" and module == "realnet_plugin.cli" for flag, module in zip(argv, argv[1:]))


def _distribution_version() -> str:
    """Version of the installed ``realnet-plugin`` distribution (``importlib.metadata``); ``'0+unknown'`` when the
    package runs from a folder that was never installed (a pin on it then fails loudly instead of pinning a
    wrong release)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("realnet-plugin")
    except PackageNotFoundError:
        return "0+unknown"


def __getattr__(name: str):
    """PEP 562: load ``score``, ``load_model``, ``load_benchmark``, ``list_models``, ``list_benchmarks`` (from
    :mod:`realnet_plugin.api`, which registers every model and benchmark id, Brain-Score's registries included)
    and ``__version__`` on first use. Raises ``AttributeError`` for any other name."""
    if name in _API_NAMES:
        from . import api

        value = getattr(api, name)
    elif name == "__version__":
        value = _distribution_version()
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if not _started_as_cli():  # Python users: the Brain-Score bridge is installed by the import itself, as always
    from .api import improvement, list_benchmarks, list_models, load_benchmark, load_model, score  # noqa: E402, F401
