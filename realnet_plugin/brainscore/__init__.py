"""The Brain-Score room: everything that touches ``brainscore_vision`` on purpose.

- :mod:`.bridge`: :func:`install` registers our model and benchmark ids in ``brainscore_vision``'s registries and
  wraps ``brainscore_vision.import_plugin`` so that ``brainscore_vision.load_model`` / ``load_benchmark`` /
  ``score`` find them (idempotent); :func:`uninstall` restores ``brainscore_vision`` exactly. ``import
  realnet_plugin`` calls :func:`install` in a Python session; ``import model_registry`` / ``import benchmarks`` and
  the ``realnet`` command line never do.
- :mod:`.submission`: ``realnet submit``: Brain-Score plugin folders for our models and benchmarks, written from the
  package-data templates in ``templates/``.

(The ``brainscore:<id>`` model family, Brain-Score's zoo seen from our registry, is a model family and lives in
:mod:`model_registry.brainscore_models`.)
"""
from .bridge import install, is_installed, uninstall

__all__ = ["install", "is_installed", "uninstall"]
