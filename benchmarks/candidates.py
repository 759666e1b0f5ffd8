"""What can be scored: one conversion from what a researcher holds to what a benchmark takes.

:func:`as_candidate` accepts a registered id (``'cornet_s'``, ``'torchvision:resnet18'``, ``'brainscore:alexnet'``),
a plain ``torch.nn.Module`` (wrapped by :func:`model_registry.wrap`), a Brain-Score ``ModelCommitment`` (run
through our extractor and cache by :func:`model_registry.commitment_model`), RDMs (an ``rsatoolbox.rdm.RDMs``,
an :class:`~benchmarks.rdm_model.RdmModel`, or ``{layer: (n, n) array}`` with ``stimulus_ids``) or any other
Brain-Score ``BrainModel`` (used as is).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import model_registry
from model_registry.brainscore_models import commitment_model, is_commitment

from .rdm_model import RdmModel, is_rsatoolbox_rdms


def as_candidate(model, *, layers: Sequence[str] | None = None, preprocessing=None,
                 stimulus_ids: Sequence[str] | None = None, **model_options):
    """``model`` as something a benchmark can score (see the module docstring).

    ``layers``: default layers of a wrapped module (a benchmark's own ``layers=`` still chooses what it reads);
    ``preprocessing``: a wrapped module's :class:`~model_registry.Preprocessing` (default ImageNet's);
    ``stimulus_ids``: the row order of RDMs given as a dict; ``model_options``: ``pretrained``, ``device``,
    ``batch_size``, ``cache``, ``progress`` for models that run.
    Raises ``TypeError`` (one line) for options that do not apply to the kind of ``model`` given, and for
    anything that is not a model.
    """
    import torch

    if preprocessing is not None and not isinstance(model, torch.nn.Module):
        raise TypeError(f"preprocessing= applies to a plain torch.nn.Module only, not to a {type(model).__name__} "
                        "(registered and Brain-Score models bring their own)")
    if stimulus_ids is not None and not isinstance(model, Mapping):
        raise TypeError("stimulus_ids= applies to RDMs given as a {layer: (n, n) array} dict only")
    if isinstance(model, str):
        return model_registry.load_model(model, **model_options)
    if isinstance(model, RdmModel) or is_rsatoolbox_rdms(model) or isinstance(model, Mapping):
        if model_options:
            raise TypeError(f"model options {sorted(model_options)} do not apply to RDMs (no model runs)")
        if isinstance(model, RdmModel):
            return model
        if is_rsatoolbox_rdms(model):
            return RdmModel.from_rsatoolbox(model)
        if stimulus_ids is None:
            raise TypeError("RDMs given as a dict need stimulus_ids=[...] (the id of each row, in row order)")
        return RdmModel.from_arrays(model, stimulus_ids)
    if isinstance(model, torch.nn.Module):
        return model_registry.wrap(model, layers=layers, preprocessing=preprocessing, **model_options)
    if is_commitment(model):
        return commitment_model(model, **model_options)
    if not hasattr(model, "look_at") and not hasattr(model, "activations"):
        raise TypeError(f"cannot score a {type(model).__name__}: expected a model id, a torch.nn.Module, a "
                        "Brain-Score BrainModel, an rsatoolbox RDMs or a {layer: RDM} dict with stimulus_ids")
    if model_options:
        raise TypeError(f"model options {sorted(model_options)} do not apply to a ready-made "
                        f"{type(model).__name__}")
    return model
