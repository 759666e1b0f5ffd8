"""Batched torch implementation of the pairwise decoding classifiers (CUDA; also runs on the CPU when asked).

Same mathematics as ``_kernels.py``: every (pair, repeat, time) pseudo-trial set is one batch entry and its
folds are the columns of one matrix, so each FISTA iteration is a single batched matrix product. The training mask
of a fold becomes the upper bound of the box (0 for test rows), so all folds share the set's Gram matrix.
"""
from __future__ import annotations

import torch

from benchmarks.rsa.decoding_plan import DecodingPlan


def pseudo_trials(data: torch.Tensor, plan: DecodingPlan) -> torch.Tensor:
    """Centred pseudo-trials ``(n_pairs, n_repeats, n_times, 2 * n_pseudo, n_features)``.

    data: ``(n_images, n_repetitions, n_times, n_features)`` on the target device.
    """
    device = data.device
    pairs = torch.as_tensor(plan.pairs, device=device)
    order = torch.as_tensor(plan.trial_order.astype("int64"), device=device)  # (P, R, 2, n_pseudo * navg)
    n_pairs, n_repeats = order.shape[:2]
    images = pairs[:, None, :, None].expand_as(order)
    trials = data[images, order]  # (P, R, 2, n_pseudo * navg, T, d)
    trials = trials.reshape(n_pairs, n_repeats, 2, plan.n_pseudo, plan.navg, *data.shape[2:]).mean(dim=4)
    sets = trials.reshape(n_pairs, n_repeats, 2 * plan.n_pseudo, *data.shape[2:]).permute(0, 1, 3, 2, 4)
    return sets - sets.mean(dim=3, keepdim=True)


def _fold_masks(plan: DecodingPlan, n_times: int, device: torch.device) -> torch.Tensor:
    """Test masks ``(n_pairs, n_repeats, n_times, 2 * n_pseudo, n_folds)`` (True = test row of that fold)."""
    folds = torch.as_tensor(plan.fold_of.astype("int64"), device=device)  # (P, R, Tf, 2, n_pseudo)
    folds = folds.reshape(*folds.shape[:3], -1).expand(-1, -1, n_times, -1)
    return folds[..., None] == torch.arange(plan.n_folds, device=device)


def _project(v, y, upper, lam, tol, max_steps=100):
    """Per column: lam with sum_i y_i clip(v_i - lam y_i, 0, upper_i) = 0; safeguarded Newton. Shapes (..., n, F)."""
    positive = y > 0
    used = upper > 0
    big = torch.finfo(v.dtype).max / 4
    low_i = torch.where(positive, v - upper, -v)
    high_i = torch.where(positive, v, upper - v)
    lo = torch.where(used, low_i, torch.full_like(v, big)).amin(dim=-2)
    hi = torch.where(used, high_i, torch.full_like(v, -big)).amax(dim=-2)
    empty = lo > hi
    lo = torch.where(empty, torch.zeros_like(lo), lo)
    hi = torch.where(empty, torch.zeros_like(hi), hi)
    lam = torch.minimum(torch.maximum(lam, lo), hi)
    active = ~empty
    for _ in range(max_steps):
        value = torch.minimum((v - lam[..., None, :] * y).clamp_min(0), upper)
        g = (y * value).sum(dim=-2)
        n_free = ((value > 0) & (value < upper)).sum(dim=-2).to(v.dtype)
        active = active & (g.abs() > tol)
        if not bool(active.any()):
            break
        lo = torch.where(active & (g > 0), lam, lo)
        hi = torch.where(active & (g <= 0), lam, hi)
        newton = lam + g / n_free.clamp_min(1)
        use_newton = (n_free > 0) & (newton > lo) & (newton < hi)
        lam = torch.where(active, torch.where(use_newton, newton, 0.5 * (lo + hi)), lam)
    return torch.minimum((v - lam[..., None, :] * y).clamp_min(0), upper), lam


def svm_accuracies(data: torch.Tensor, plan: DecodingPlan, c_value: float, n_iter: int) -> torch.Tensor:
    """Mean test accuracy over repeats and folds, ``(n_pairs, n_times)`` float64 (see module docstring)."""
    x = pseudo_trials(data, plan)  # (P, R, T, n, d)
    n_times, n_rows = x.shape[2], x.shape[3]
    test = _fold_masks(plan, n_times, x.device)  # (P, R, T, n, F)
    y = torch.ones(n_rows, 1, device=x.device, dtype=x.dtype)
    y[plan.n_pseudo:] = -1
    upper = (~test).to(x.dtype) * c_value
    gram = x @ x.transpose(-1, -2)
    q_matrix = gram * (y @ y.T)
    # L >= lambda_max(X_f X_f^T) per fold: tr(M) * (sum of squares of (M / tr M)^2)^(1/4), M = X_f^T X_f
    train = (~test).to(x.dtype)
    m = torch.einsum("...nf,...na,...nb->...fab", train, x, x)
    trace = m.diagonal(dim1=-2, dim2=-1).sum(-1).clamp_min(1e-30)
    squared = (m / trace[..., None, None]) @ (m / trace[..., None, None])
    lipschitz = (trace * squared.square().sum(dim=(-2, -1)).sqrt().sqrt() * 1.001).clamp_min(1e-30)
    inv_l = (1.0 / lipschitz)[..., None, :]  # (P, R, T, 1, F)
    alpha = torch.zeros_like(upper)
    z = torch.zeros_like(upper)
    lam = torch.zeros_like(lipschitz)
    momentum = torch.ones_like(lipschitz)
    tol = 1e-5 * c_value
    for iteration in range(n_iter + 1):
        v = z - (q_matrix @ z - 1.0) * inv_l
        following_alpha, lam = _project(v, y, upper, lam, tol)
        if iteration == n_iter:
            break
        restart = ((z - following_alpha) * (following_alpha - alpha)).sum(dim=-2) > 0
        following = 0.5 * (1 + torch.sqrt(1 + 4 * momentum.square()))
        beta = (momentum - 1) / following
        reset = restart | (iteration == n_iter - 1)
        beta = torch.where(reset, torch.zeros_like(beta), beta)
        momentum = torch.where(reset, torch.ones_like(momentum), following)
        z = following_alpha + beta[..., None, :] * (following_alpha - alpha)
        alpha = following_alpha
    weights = (following_alpha * y).transpose(-1, -2) @ x  # (P, R, T, F, d)
    decision = x @ weights.transpose(-1, -2) + (lam * lipschitz)[..., None, :]  # (P, R, T, n, F)
    correct = ((decision >= 0) == (y > 0)) & test  # a tie (decision 0) is the first image, as sklearn predicts
    fold_accuracy = correct.sum(dim=-2).double() / test.sum(dim=-2).double()  # (P, R, T, F)
    return fold_accuracy.mean(dim=(1, 3))


def lda_accuracies(data: torch.Tensor, plan: DecodingPlan) -> torch.Tensor:
    """Nearest-class-mean (LDA on whitened data) accuracy, ``(n_pairs, n_times)`` float64."""
    x = pseudo_trials(data, plan).double()  # (P, R, T, n, d)
    test = _fold_masks(plan, x.shape[2], x.device)
    is_first = torch.zeros(x.shape[3], dtype=torch.bool, device=x.device)
    is_first[: plan.n_pseudo] = True
    means = []
    for members in (is_first, ~is_first):
        weights = ((~test) & members[:, None]).double()  # (P, R, T, n, F)
        means.append((weights.transpose(-1, -2) @ x) / weights.sum(dim=-2)[..., None])  # (P, R, T, F, d)
    direction = means[0] - means[1]
    offset = 0.5 * (means[0].square().sum(-1) - means[1].square().sum(-1))
    decision = x @ direction.transpose(-1, -2) - offset[..., None, :]  # (P, R, T, n, F)
    correct = torch.where(is_first[:, None], decision >= 0, decision < 0) & test  # tie: first image
    fold_accuracy = correct.sum(dim=-2).double() / test.sum(dim=-2).double()
    return fold_accuracy.mean(dim=(1, 3))
