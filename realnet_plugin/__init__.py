"""realnet-plugin: human-brain alignment for vision models (ReAlnet, EEG/fMRI RSA benchmarks, a model registry).

>>> import realnet_plugin
>>> realnet_plugin.score(model='realnet_s01_b100', benchmark='things-eeg-rsa')  # doctest: +SKIP

In a Python session ``import realnet_plugin`` loads the registries and calls
:func:`realnet_plugin.brainscore.install`, which puts our model and benchmark ids into ``brainscore_vision``'s
registries and makes ``brainscore_vision.load_model`` / ``score`` find them (``realnet_plugin.brainscore.uninstall()``
undoes it). In the ``realnet`` command line (console script, ``python -m realnet_plugin`` or
``python -m realnet_plugin.cli``) nothing heavy is imported here: each command imports torch, the benchmarks and the
registry when it runs, so ``realnet --help`` answers without them. Either way the public names (``score``,
``load_model``, ...) resolve on first use through the module ``__getattr__`` (PEP 562), which installs the
Brain-Score room too.
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


_CLI_MODULES = ("realnet_plugin", "realnet_plugin.__main__", "realnet_plugin.cli", "realnet_plugin.cli.__main__")
_OPTIONS_WITH_VALUE = ("-W", "-X", "--check-hash-based-pycs")  # interpreter options whose value is the next word


def _started_as_cli() -> bool:
    """Whether this interpreter was started as the ``realnet`` console script, ``python -m realnet_plugin`` or
    ``python -m realnet_plugin.cli`` (then the heavy registries load when a command runs, not here)."""
    main = sys.modules.get("__main__")
    script = getattr(main, "__file__", None)
    if script and sys.argv and Path(sys.argv[0]).name in _CONSOLE_SCRIPTS and Path(script).name in _CONSOLE_SCRIPTS:
        return True
    return _run_module(list(getattr(sys, "orig_argv", ()))) in _CLI_MODULES


def _run_module(argv: list[str]) -> str | None:
    """The module of ``python [options] -m MODULE ...`` in the interpreter's own ``argv`` (``sys.orig_argv``), or
    ``None`` when it ran a script, ``-c`` code or stdin (words after those belong to the program, not Python)."""
    words = iter(argv[1:])
    for word in words:
        if word == "-m":
            return next(words, None)
        if word.startswith("-m") and not word.startswith("--"):
            return word[2:]
        if word in _OPTIONS_WITH_VALUE:
            next(words, None)
        elif word == "-" or not word.startswith("-") or word.startswith("-c"):
            return None
    return None


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
    :mod:`realnet_plugin.api`, which registers every model and benchmark id; the Brain-Score room is installed
    then)
    and ``__version__`` on first use. Raises ``AttributeError`` for any other name."""
    if name in _API_NAMES:
        from . import api
        from .brainscore import install

        install()  # the public API promises our ids in brainscore_vision, as the eager import does
        value = getattr(api, name)
    elif name == "__version__":
        value = _distribution_version()
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if not _started_as_cli():  # Python users: the import itself installs the Brain-Score room, as the README promises
    from .api import improvement, list_benchmarks, list_models, load_benchmark, load_model, score  # noqa: E402, F401
    from .brainscore import install as _install_brainscore  # noqa: E402

    _install_brainscore()
