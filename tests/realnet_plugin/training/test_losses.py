import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from model_registry.realnet import ReAlnet, ReAlnetConfig, head_name
from realnet_plugin.training.losses import correlation_term, generation_loss, pearson_matrix, realnet_loss


def _pairs(seed=0, batch=5, dim=12):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, dim, generator=generator), torch.randn(batch, dim, generator=generator)


def test_pearson_matrix_matches_numpy():
    pred, target = _pairs()
    expected = np.corrcoef(pred.numpy(), target.numpy())[:5, 5:]  # rows: pred_i, columns: target_j
    np.testing.assert_allclose(pearson_matrix(pred, target).numpy(), expected, atol=1e-6)


def test_correlation_term_is_the_documented_formula():
    pred, target = _pairs(1, batch=4)
    r = np.corrcoef(pred.numpy(), target.numpy())[:4, 4:]
    matched = np.mean([r[i, i] for i in range(4)])
    mismatched = np.mean([r[i, j] for i in range(4) for j in range(4) if i != j])
    assert float(correlation_term(pred, target)) == pytest.approx(1 - matched + mismatched, abs=1e-6)
    # identical vectors: matched r = 1, so the term equals the mean mismatched correlation
    assert float(correlation_term(target, target)) == pytest.approx(
        np.mean([np.corrcoef(target[i], target[j])[0, 1] for i in range(4) for j in range(4) if i != j]), abs=1e-6)
    # one image: no mismatched pair, the term is 1 - r
    assert float(correlation_term(pred[:1], target[:1])) == pytest.approx(1 - r[0, 0], abs=1e-6)
    expected = F.mse_loss(pred, target).item() + 1 - matched + mismatched
    assert float(generation_loss(pred, target)) == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("batch", [1, 2, 5])
def test_correlation_term_gradient_equals_the_explicit_diagonal_and_off_diagonal_means(batch):
    # second path: the term written out with a diagonal mean and an off-diagonal mean, in float64
    pred, target = (values.double() for values in _pairs(3, batch=batch, dim=9))
    pred.requires_grad_(True)
    ours = correlation_term(pred, target)
    assert ours.dtype == torch.float64
    (grad_ours,) = torch.autograd.grad(ours, pred)
    r = pearson_matrix(pred, target)
    off = ~torch.eye(batch, dtype=torch.bool)
    explicit = 1 - r.diagonal().mean() + (r[off].mean() if batch > 1 else 0)
    (grad_explicit,) = torch.autograd.grad(explicit, pred)
    assert ours.item() == pytest.approx(explicit.item(), abs=1e-12)
    np.testing.assert_allclose(grad_ours.numpy(), grad_explicit.numpy(), atol=1e-12)


def test_paper_exact_term_has_the_same_value_but_no_gradient():
    pred, target = _pairs(2)
    pred.requires_grad_(True)
    assert not correlation_term(pred, target, differentiable=False).requires_grad
    differentiable = generation_loss(pred, target)
    detached = generation_loss(pred, target, differentiable=False)
    assert differentiable.item() == pytest.approx(detached.item())
    (grad_full,) = torch.autograd.grad(differentiable, pred)
    (grad_mse_only,) = torch.autograd.grad(detached, pred)
    np.testing.assert_allclose(grad_mse_only.numpy(), (2 * (pred - target) / pred.numel()).detach().numpy(), atol=1e-7)
    assert not torch.allclose(grad_full, grad_mse_only)


def test_shape_and_beta_errors():
    pred, target = _pairs()
    with pytest.raises(ValueError, match=r"\(batch, n_output\)"):
        pearson_matrix(pred, target[:, :5])
    with pytest.raises(ValueError, match="beta must be >= 0"):
        realnet_loss(torch.zeros(5, 3), torch.zeros(5, dtype=torch.long), pred, target, beta=-1)


def test_beta_zero_is_plain_distillation_and_leaves_the_eeg_module_without_gradient():
    torch.manual_seed(0)
    model = ReAlnet(ReAlnetConfig(image_size=32, n_output=34))
    images, eeg = torch.randn(3, 3, 32, 32), torch.randn(3, 34)
    labels = torch.tensor([1, 7, 3])
    logits, pred = model(images)
    terms = realnet_loss(logits, labels, pred, eeg, beta=0.0)
    assert terms.total.item() == F.cross_entropy(logits, labels).item()
    assert float(terms.generation) > 0  # still reported
    terms.total.backward()
    heads = [getattr(model, head_name(layer)) for layer in model.config.layers] + [model.fc]
    assert all(p.grad is None for head in heads for p in head.parameters())
    assert model.realnet.decoder.linear.weight.grad.abs().sum() > 0

    model.zero_grad(set_to_none=True)
    logits, pred = model(images)
    terms = realnet_loss(logits, labels, pred, eeg, beta=10.0)
    assert terms.total.item() == pytest.approx(terms.task.item() + 10 * terms.generation.item(), rel=1e-6)
    terms.total.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for head in heads for p in head.parameters())


def test_a_constant_row_gets_r_zero_and_empty_or_one_output_batches_are_refused():
    pred = torch.tensor([[1.0, 2.0, 4.0], [3.0, 3.0, 3.0]], requires_grad=True)
    target = torch.tensor([[0.5, 1.0, 3.0], [2.0, 1.0, 0.0]])
    r = pearson_matrix(pred, target)
    expected = np.corrcoef(pred.detach().numpy()[0], target.numpy()[1])[0, 1]
    assert float(r[0, 1].detach()) == pytest.approx(expected, abs=1e-6)
    assert torch.equal(r[1], torch.zeros(2))  # constant row: r undefined, taken as 0 (eps in the norm)
    correlation_term(pred, target).backward()
    assert torch.isfinite(pred.grad).all()
    for shape in ((0, 5), (4, 1)):
        message = re.escape(f"have shape {tuple(shape)}; a correlation needs a batch of at least 1")
        with pytest.raises(ValueError, match=message):
            correlation_term(torch.zeros(shape), torch.zeros(shape))
