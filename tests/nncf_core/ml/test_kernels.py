"""The fused (numba) and plain-PyTorch embedding steps agree, and match stock SparseAdam."""

from __future__ import annotations

import pytest
import torch

from nncf_core.ml import kernels
from nncf_core.ml.kernels import FusedRows, TorchRows

pytestmark = pytest.mark.skipif(not kernels.HAVE_NUMBA, reason="numba is not installed")

N_ROWS, EMB, BATCH, P = 12, 6, 16, 0.25


def _batches(steps: int, seed: int = 0) -> list[tuple[torch.Tensor, ...]]:
    """Batches with repeated rows (users 0..4, items 5..11), masks and upstream gradients."""
    generator = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(steps):
        rows_u = torch.randint(0, 5, (BATCH,), generator=generator)
        rows_i = torch.randint(5, N_ROWS, (BATCH,), generator=generator)
        keep = torch.bernoulli(torch.full((BATCH, 2 * EMB), 1 - P), generator=generator)
        grad = torch.randn((BATCH, 2 * EMB), generator=generator) / BATCH
        out.append((rows_u, rows_i, keep, grad))
    return out


def _table() -> torch.Tensor:
    return torch.randn((N_ROWS, EMB), generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("weight_decay", [0.0, 0.3])
def test_fused_and_torch_steps_agree(weight_decay: float) -> None:
    fused = FusedRows(_table(), dropout=P, weight_decay=weight_decay, max_batch=4)
    plain = TorchRows(_table(), dropout=P, weight_decay=weight_decay)
    for step, (rows_u, rows_i, keep, grad) in enumerate(_batches(8)):
        lr = 0.05 / (step + 1)
        x_fused = fused.forward(rows_u, rows_i, keep)
        x_plain = plain.forward(rows_u, rows_i, keep)
        torch.testing.assert_close(x_fused, x_plain)
        assert x_fused.requires_grad and x_plain.requires_grad
        fused.backward_step(grad, lr)
        plain.backward_step(grad, lr)
        torch.testing.assert_close(fused.table, plain.table, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(fused.exp_avg, plain.exp_avg, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(fused.exp_avg_sq, plain.exp_avg_sq, rtol=1e-5, atol=1e-9)
    assert not torch.equal(fused.table, _table())


def test_weight_decay_shrinks_rows_by_their_occurrences() -> None:
    # With no data gradient, Adam moves every touched row towards zero; rows not in
    # the batch do not move at all (lazy).
    rows = TorchRows(torch.ones((4, 2)), dropout=0.0, weight_decay=1.0)
    x = rows.forward(torch.tensor([0, 0, 1]), torch.tensor([2, 2, 2]))
    rows.backward_step(torch.zeros_like(x), lr=0.1)
    assert torch.all(rows.table[:3] < 1.0)
    assert torch.all(rows.table[3] == 1.0)
    # First Adam step: m/sqrt(v) = sign(g), so all touched rows move by exactly lr.
    torch.testing.assert_close(rows.table[:3], torch.full((3, 2), 0.9))


def test_torch_rows_match_stock_sparse_adam() -> None:
    plain = TorchRows(_table(), dropout=P, weight_decay=0.0)
    embedding = torch.nn.Embedding(N_ROWS, EMB, sparse=True)
    with torch.no_grad():
        embedding.weight.copy_(_table())
    optimizer = torch.optim.SparseAdam(embedding.parameters(), lr=0.01)
    for rows_u, rows_i, keep, grad in _batches(6):
        x = plain.forward(rows_u, rows_i, keep)
        plain.backward_step(grad, 0.01)
        stock = torch.relu(torch.cat([embedding(rows_u), embedding(rows_i)], 1))
        stock = stock * keep / (1 - P)
        torch.testing.assert_close(stock.detach(), x.detach())
        optimizer.zero_grad()
        (stock * grad).sum().backward()
        optimizer.step()
        torch.testing.assert_close(plain.table, embedding.weight.detach(), rtol=1e-5, atol=1e-6)


def test_fused_dropout_rate_and_reproducibility() -> None:
    table = torch.rand((50, 40)) + 0.1  # all positive: only dropout zeroes entries
    rows_u = torch.randint(0, 25, (4000,))
    rows_i = torch.randint(25, 50, (4000,))
    first = FusedRows(table.clone(), dropout=0.1, weight_decay=0.0, seed=7)
    x = first.forward(rows_u, rows_i).detach().clone()
    dropped = (x == 0).float().mean().item()
    assert dropped == pytest.approx(0.1, abs=0.005)
    kept = x != 0
    expected = torch.cat([table[rows_u], table[rows_i]], 1) / 0.9
    torch.testing.assert_close(x[kept], expected[kept])
    again = FusedRows(table.clone(), dropout=0.1, weight_decay=0.0, seed=7)
    assert torch.equal(again.forward(rows_u, rows_i), x)
    other = FusedRows(table.clone(), dropout=0.1, weight_decay=0.0, seed=8)
    assert not torch.equal(other.forward(rows_u, rows_i), x)
    # Successive batches get fresh masks.
    assert not torch.equal(first.forward(rows_u, rows_i), x)


def test_fused_rows_refuse_non_cpu_float32() -> None:
    with pytest.raises(ValueError):
        FusedRows(torch.zeros((2, 2), dtype=torch.float64), dropout=0.1, weight_decay=0.0)


def test_dense_rows_are_pytorch_adam_over_embeddings_with_l2_on_every_row() -> None:
    # The reference: nn.Embedding + autograd + torch.optim.Adam(weight_decay), with the
    # same dropout masks; rows 4 and 11 are in no batch and must still shrink.
    decay, beta2 = 0.2, 0.95
    dense = kernels.DenseRows(_table(), dropout=P, weight_decay=decay, beta2=beta2)
    weight = torch.nn.Parameter(_table())
    adam = torch.optim.Adam([weight], lr=0.05, betas=(0.9, beta2), weight_decay=decay)
    untouched = torch.tensor([4, 11])
    for rows_u, rows_i, keep, grad in _batches(6):
        rows_u = torch.where(rows_u == 4, 0, rows_u)
        rows_i = torch.where(rows_i == 11, 5, rows_i)
        x = dense.forward(rows_u, rows_i, keep)
        dense.backward_step(grad, 0.05)
        raw = torch.cat([weight[rows_u], weight[rows_i]], dim=1)
        reference = torch.relu(raw) * keep / (1 - P)
        adam.zero_grad()
        reference.backward(grad)
        adam.step()
        torch.testing.assert_close(x.detach(), reference.detach())
        torch.testing.assert_close(dense.table, weight.detach(), rtol=1e-5, atol=1e-6)
    assert torch.all(dense.table[untouched].abs() < _table()[untouched].abs())
