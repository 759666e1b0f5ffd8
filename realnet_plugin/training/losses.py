"""The ReAlnet loss: ``L = CE(logits, teacher labels) + beta * L_gen``.

``L_gen = MSE(pred, target) + [1 - mean_i r(pred_i, target_i) + mean_{i != j} r(pred_i, target_j)]`` with ``r``
the Pearson correlation of two flattened ``n_output`` vectors, taken over all B x B pairs of the batch: matched
pairs should correlate, mismatched pairs should not (a contrastive term).

Two behaviours of the correlation term:

* default (``paper_exact=False``): differentiable, as the paper describes it;
* ``paper_exact=True``: the same value but no gradient, as the authors' code computes it (they rebuild the
  correlations with ``torch.tensor(list)``, which detaches them); only the MSE then trains the EEG module.

All terms are computed in at least float32 (half-precision inputs under mixed precision are upcast). With one image
in a batch there is no mismatched pair; the mismatched mean is then taken as 0.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

PEARSON_EPS = 1e-8


def _at_least_float32(values: torch.Tensor) -> torch.Tensor:
    return values.to(torch.promote_types(values.dtype, torch.float32))


@dataclass
class LossTerms:
    """``total = task + beta * generation``; ``task`` = cross-entropy, ``generation`` = MSE + correlation term."""

    total: torch.Tensor
    task: torch.Tensor
    generation: torch.Tensor


def pearson_matrix(pred: torch.Tensor, target: torch.Tensor, eps: float = PEARSON_EPS) -> torch.Tensor:
    """``r[i, j]`` = Pearson correlation of ``pred[i]`` and ``target[j]``: (B, D), (B, D) -> (B, B).

    ``eps`` is added to each row's norm (as the authors' code does), so a constant row, whose Pearson r is undefined,
    gets r = 0 and its gradient stays finite. Raises ``ValueError`` for mismatched shapes, an empty batch, or D < 2.
    """
    if pred.ndim != 2 or pred.shape != target.shape:
        raise ValueError(f"pred and target must both be (batch, n_output), got {tuple(pred.shape)} and "
                         f"{tuple(target.shape)}")
    if pred.shape[0] < 1 or pred.shape[1] < 2:
        raise ValueError(f"pred and target have shape {tuple(pred.shape)}; a correlation needs a batch of at least 1 "
                         "row and at least 2 outputs per row")
    pred = pred - pred.mean(dim=1, keepdim=True)
    target = target - target.mean(dim=1, keepdim=True)
    pred = pred / (pred.norm(dim=1, keepdim=True) + eps)
    target = target / (target.norm(dim=1, keepdim=True) + eps)
    return pred @ target.T


@functools.lru_cache(maxsize=16)
def _pair_weights(batch: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """(B, B) weights with ``(r * W).sum() = -mean_i r_ii + mean_{i != j} r_ij``: -1/B on the diagonal and
    1/(B(B-1)) off it. Built once per batch size and device, so a step adds one product, not a diagonal and four
    reductions (fewer kernel launches on a GPU)."""
    weights = torch.full((batch, batch), 1.0 / (batch * (batch - 1)) if batch > 1 else 0.0, dtype=torch.float64)
    weights.fill_diagonal_(-1.0 / batch)
    return weights.to(device=device, dtype=dtype)


def correlation_term(pred: torch.Tensor, target: torch.Tensor, differentiable: bool = True) -> torch.Tensor:
    """``1 - mean_i r(pred_i, target_i) + mean_{i != j} r(pred_i, target_j)`` over the batch; a scalar.

    ``differentiable=False`` returns the same value detached (the authors' code). Computed as one weighted sum
    ``1 + sum_ij W_ij r_ij`` (see :func:`_pair_weights`).
    """
    r = pearson_matrix(_at_least_float32(pred), _at_least_float32(target))  # (B, B)
    if not differentiable:
        r = r.detach()
    weights = _pair_weights(r.shape[0], r.device, r.dtype)
    return 1 + torch.dot(r.reshape(-1), weights.reshape(-1))


def generation_loss(pred: torch.Tensor, target: torch.Tensor, differentiable: bool = True) -> torch.Tensor:
    """``MSE(pred, target) + correlation_term(pred, target)``: (B, D), (B, D) -> scalar."""
    mse = F.mse_loss(_at_least_float32(pred), _at_least_float32(target))
    return mse + correlation_term(pred, target, differentiable)


def realnet_loss(logits: torch.Tensor, labels: torch.Tensor, pred: torch.Tensor, target: torch.Tensor,
                 beta: float, paper_exact: bool = False, *, task_weight: float = 1.0,
                 gather: Callable[[torch.Tensor], torch.Tensor] | None = None, task: bool = True) -> LossTerms:
    """The ReAlnet objective for one batch.

    ``logits`` (B, classes), ``labels`` (B,) teacher argmax, ``pred`` / ``target`` (B, n_output).
    ``beta = 0`` gives plain distillation: ``total`` is the cross-entropy and the EEG module gets no gradient
    (the generation term is still reported, detached).

    Distributed training passes ``gather`` (concatenates every process's rows, differentiably) so that the
    generation loss is computed over the global batch, and ``task_weight`` = world size x local / global batch
    size, so that averaging the processes' gradients gives the gradient of the global-batch loss.
    ``task=False``: no task loss (``labels`` and ``logits`` unused); the total is ``beta x`` generation.
    """
    if beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    # task=False (no teacher, e.g. a CLIP tower): the task term is 0 and the backbone output is not read
    task = (F.cross_entropy(_at_least_float32(logits), labels) if task
            else torch.zeros((), device=pred.device, dtype=torch.float32))
    if gather is not None:
        pred, target = gather(pred), gather(target)
    if beta == 0:
        with torch.no_grad():
            generation = generation_loss(pred, target)
        return LossTerms(total=task_weight * task, task=task.detach(), generation=generation)
    generation = generation_loss(pred, target, differentiable=not paper_exact)
    return LossTerms(total=task_weight * task + beta * generation, task=task.detach(), generation=generation.detach())
