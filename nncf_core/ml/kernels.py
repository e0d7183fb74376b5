"""The embedding half of a training step: gather + ReLU + dropout, and per-row ("lazy") Adam.

The user and item embeddings live in one combined table (users' rows first,
then items'), with Adam's two moments beside it. A step gathers the rows of a
batch into an ``x`` of shape (batch, 2 * emb) that PyTorch's autograd sees as a
leaf; the MLP runs forward and backward in PyTorch; ``x.grad`` then comes back
here, is summed per distinct row, and only those rows are updated, with the
bias correction of the global step count (exactly ``torch.optim.SparseAdam``'s
arithmetic), plus an L2 penalty on the rows a batch touches, once per occurrence:
the gradient of ``weight_decay / 2 * mean over the batch of (|u|^2 + |v|^2)``, so
the penalty keeps its weight relative to the (batch-mean) data gradient whatever
the batch size, and a row's penalty grows with its ratings, as in ALS-WR.

Two interchangeable implementations with the same math:

* :class:`TorchRows`: plain PyTorch (CPU or CUDA); the reference.
* :class:`FusedRows`: numba-compiled loops for the CPU. Dropout's random numbers
  and the per-row bookkeeping dominate a step in eager PyTorch; here they are
  one pass each, with no temporaries. Dropout masks come from a counter-based
  generator inside the kernel unless a mask is passed (tests pass the same mask
  to both implementations and compare the updates).

And the dense alternative for small tables, :class:`DenseRows`: the same gather,
then PyTorch's Adam over every row with coupled L2 on every row (see its
docstring; :class:`~nncf_core.ml.config.TrainConfig` chooses between them).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Protocol

import numpy as np
import torch

log = logging.getLogger(__name__)

try:
    import numba
    from numba import njit

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - numba is a declared dependency
    HAVE_NUMBA = False

BETA1 = 0.9
BETA2 = 0.999
EPS = 1e-8

Exchange = Callable[[list[torch.Tensor]], list[torch.Tensor]]
"""Concatenates tensors (same first dimension) with the other processes' along dim 0."""


class RowAdam(Protocol):
    """Embedding rows with their optimizer: what the trainer drives each batch."""

    table: torch.Tensor
    step_count: int

    def forward(
        self, rows_u: torch.Tensor, rows_i: torch.Tensor, keep: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``dropout(relu(cat(table[rows_u], table[rows_i])))`` as a leaf requiring grad."""
        ...

    def backward_step(
        self, grad_x: torch.Tensor, lr: float, exchange: Exchange | None = None
    ) -> None:
        """Scatter ``grad_x`` (of the last forward's x) into rows and take one Adam step.

        With ``exchange`` (data-parallel training), the step's rows and gradients are
        first joined with every other process's, so all replicas take the same step.
        """
        ...


def _step_size(lr: float, step: int, beta2: float = BETA2) -> float:
    bias_correction1 = 1.0 - BETA1**step
    bias_correction2 = 1.0 - beta2**step
    return lr * math.sqrt(bias_correction2) / bias_correction1


class _TorchGather:
    """The forward half in plain PyTorch (any device): gather, ReLU, dropout."""

    def __init__(
        self,
        table: torch.Tensor,
        *,
        dropout: float,
        weight_decay: float,
        generator: torch.Generator | None = None,
        beta2: float = BETA2,
    ) -> None:
        self.table = table
        self.dropout = dropout
        self.weight_decay = weight_decay
        self.generator = generator
        self.beta2 = beta2
        self.step_count = 0
        self._ctx: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self._init_state()

    def _init_state(self) -> None:
        """The optimizer's state beside the table (subclasses)."""

    def forward(
        self, rows_u: torch.Tensor, rows_i: torch.Tensor, keep: torch.Tensor | None = None
    ) -> torch.Tensor:
        raw = torch.cat([self.table[rows_u], self.table[rows_i]], dim=1)
        passes = raw > 0
        if self.dropout > 0:
            if keep is None:
                keep = torch.empty_like(raw).bernoulli_(
                    1.0 - self.dropout, generator=self.generator
                )
            passes &= keep.bool()
        factor = passes.to(raw.dtype) * (1.0 / (1.0 - self.dropout))
        self._ctx = (rows_u, rows_i, factor)
        return (raw * factor).requires_grad_()

    def _gradient(
        self, grad_x: torch.Tensor, exchange: Exchange | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The last forward's rows and the gradient reaching their raw values."""
        assert self._ctx is not None, "backward_step before forward"
        rows_u, rows_i, factor = self._ctx
        self._ctx = None
        if exchange is not None:
            rows_u, rows_i, factor, grad_x = exchange([rows_u, rows_i, factor, grad_x])
        return rows_u, rows_i, grad_x * factor


class TorchRows(_TorchGather):
    """Plain-PyTorch gather/dropout and lazy per-row Adam (any device)."""

    def _init_state(self) -> None:
        self.exp_avg = torch.zeros_like(self.table)
        self.exp_avg_sq = torch.zeros_like(self.table)

    def backward_step(
        self, grad_x: torch.Tensor, lr: float, exchange: Exchange | None = None
    ) -> None:
        rows_u, rows_i, grad = self._gradient(grad_x, exchange)
        emb = self.table.shape[1]
        rows = torch.cat([rows_u, rows_i])
        grads = torch.cat([grad[:, :emb], grad[:, emb:]])
        unique, inverse = torch.unique(rows, return_inverse=True)
        summed = torch.zeros((len(unique), emb), dtype=grad.dtype, device=grad.device)
        summed.index_add_(0, inverse, grads)
        decay = None
        if self.weight_decay:
            counts = torch.bincount(inverse, minlength=len(unique)).to(grad.dtype)
            decay = (counts * (self.weight_decay / len(rows_u))).unsqueeze(1)
        self.step_count += 1
        self._adam_rows(unique, summed, decay, _step_size(lr, self.step_count, self.beta2))

    def _adam_rows(
        self, rows: torch.Tensor, grad: torch.Tensor, decay: torch.Tensor | None, step_size: float
    ) -> None:
        values = self.table[rows]
        if decay is not None:
            grad = grad + decay * values
        # SparseAdam's arithmetic: m += (1 - b1)(g - m); v += (1 - b2)(g^2 - v).
        exp_avg = self.exp_avg[rows]
        exp_avg += (grad - exp_avg) * (1.0 - BETA1)
        exp_avg_sq = self.exp_avg_sq[rows]
        exp_avg_sq += (grad * grad - exp_avg_sq) * (1.0 - self.beta2)
        self.exp_avg[rows] = exp_avg
        self.exp_avg_sq[rows] = exp_avg_sq
        self.table[rows] = values - step_size * (exp_avg / (exp_avg_sq.sqrt() + EPS))


class DenseRows(_TorchGather):
    """PyTorch's Adam over the whole table at every step, with coupled L2 on every row.

    Rows a batch does not touch still get the L2 gradient (and their momentum), so
    they shrink between touches; with a short ``beta2`` that gradient soon sets the
    step size, and a rarely seen user or movie is pulled firmly toward zero. A step
    costs a pass over the table: :class:`~nncf_core.ml.config.TrainConfig` uses this
    for small tables only.
    """

    def _init_state(self) -> None:
        self._grad = torch.zeros_like(self.table)
        self.optimizer = torch.optim.Adam(
            [self.table],
            lr=1e-3,  # set at every step
            betas=(BETA1, self.beta2),
            eps=EPS,
            weight_decay=self.weight_decay,
        )

    def backward_step(
        self, grad_x: torch.Tensor, lr: float, exchange: Exchange | None = None
    ) -> None:
        rows_u, rows_i, grad = self._gradient(grad_x, exchange)
        emb = self.table.shape[1]
        dense = self._grad.zero_()
        dense.index_add_(0, rows_u, grad[:, :emb])
        dense.index_add_(0, rows_i, grad[:, emb:])
        self.table.grad = dense
        self.optimizer.param_groups[0]["lr"] = lr
        self.optimizer.step()
        self.step_count += 1


if HAVE_NUMBA:
    # error_model="numpy": no ZeroDivisionError checks, which would keep LLVM
    # from vectorising the loops (4x slower Adam updates). fastmath: the loops
    # are element-wise, so reassociation changes nothing but the last bit of
    # the divisions; the agreement tests bound the difference.
    _jit = njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
    _M32 = np.uint32(0xFFFFFFFF)

    @njit(cache=True, nogil=True, inline="always")
    def _hash32(x: np.uint32) -> np.uint32:  # pragma: no cover - compiled
        # "lowbias32" (Wellons): a strong 32-bit integer hash whose 32-bit
        # multiplies vectorise, unlike a sequential generator's state.
        x = np.uint32(x ^ (x >> np.uint32(16)))
        x = np.uint32(x * np.uint32(0x7FEB352D))
        x = np.uint32(x ^ (x >> np.uint32(15)))
        x = np.uint32(x * np.uint32(0x846CA68B))
        return np.uint32(x ^ (x >> np.uint32(16)))

    @_jit
    def _gather_forward(
        table: np.ndarray,
        rows_u: np.ndarray,
        rows_i: np.ndarray,
        seed: np.uint32,
        threshold: np.uint32,
        scale: np.float32,
        keep: np.ndarray,
        use_keep: bool,
        x: np.ndarray,
    ) -> None:  # pragma: no cover - compiled
        """x = dropout(relu(cat(table[rows_u], table[rows_i]))).

        Counter-based dropout: entry (b, j) is dropped when hash(key_b + j) <
        threshold, key_b = hash(seed + b * golden), so no generator state runs
        through the loop. x > 0 exactly where the gradient flows, which is all
        the backward pass needs to know.
        """
        batch = rows_u.shape[0]
        emb = table.shape[1]
        zero = np.float32(0.0)
        for b in range(batch):
            key = _hash32(np.uint32(seed + np.uint32(np.uint32(b) * np.uint32(0x9E3779B9))))
            for half in range(2):
                row = rows_u[b] if half == 0 else rows_i[b]
                offset = half * emb
                for j in range(emb):
                    if use_keep:
                        kept = keep[b, offset + j] != 0
                    else:
                        kept = _hash32(np.uint32(key + np.uint32(offset + j))) >= threshold
                    value = table[row, j]
                    x[b, offset + j] = value * scale if kept and value > zero else zero

    @_jit
    def _scatter_adam(
        table: np.ndarray,
        exp_avg: np.ndarray,
        exp_avg_sq: np.ndarray,
        rows_u: np.ndarray,
        rows_i: np.ndarray,
        grad_x: np.ndarray,
        x: np.ndarray,
        scale: np.float32,
        slot_of: np.ndarray,
        slot_rows: np.ndarray,
        counts: np.ndarray,
        summed: np.ndarray,
        step_size: np.float32,
        weight_decay: np.float32,
        one_minus_b2: np.float32,
    ) -> int:  # pragma: no cover - compiled
        """Sum the batch's gradients per distinct row, then Adam-update those rows."""
        batch = rows_u.shape[0]
        emb = table.shape[1]
        zero = np.float32(0.0)
        n_slots = 0
        # Users first, then items, each in batch order: the summation order of
        # TorchRows' index_add_ over cat([rows_u, rows_i]).
        for half in range(2):
            offset = half * emb
            for b in range(batch):
                row = rows_u[b] if half == 0 else rows_i[b]
                slot = slot_of[row]
                if slot < 0:
                    slot = n_slots
                    slot_of[row] = slot
                    slot_rows[slot] = row
                    counts[slot] = 0
                    n_slots += 1
                    for j in range(emb):
                        summed[slot, j] = zero
                counts[slot] += 1
                for j in range(emb):
                    flows = x[b, offset + j] > zero
                    summed[slot, j] += grad_x[b, offset + j] * scale if flows else zero
        one_minus_b1 = np.float32(1.0 - BETA1)
        eps = np.float32(EPS)
        per_occurrence = weight_decay / np.float32(batch)
        for slot in range(n_slots):
            row = slot_rows[slot]
            slot_of[row] = -1
            decay = np.float32(counts[slot]) * per_occurrence
            for j in range(emb):
                value = table[row, j]
                g = summed[slot, j] + decay * value
                m = exp_avg[row, j]
                m += (g - m) * one_minus_b1
                v = exp_avg_sq[row, j]
                v += (g * g - v) * one_minus_b2
                exp_avg[row, j] = m
                exp_avg_sq[row, j] = v
                table[row, j] = value - step_size * (m / (np.sqrt(v) + eps))
        return n_slots


class FusedRows:
    """Numba kernels for the same step as :class:`TorchRows` (CPU tensors only).

    The ``x`` a forward returns is a view of a buffer that the next forward
    overwrites; the trainer uses it within one step.
    """

    def __init__(
        self,
        table: torch.Tensor,
        *,
        dropout: float,
        weight_decay: float,
        seed: int = 0,
        max_batch: int = 0,
        beta2: float = BETA2,
    ) -> None:
        if not HAVE_NUMBA:  # pragma: no cover
            raise RuntimeError("the fused backend needs numba")
        if table.device.type != "cpu" or table.dtype != torch.float32:
            raise ValueError("the fused backend needs a float32 CPU table")
        self.table = table.contiguous()
        self._t = self.table.numpy()
        self.beta2 = beta2
        self._m = np.zeros_like(self._t)
        self._v = np.zeros_like(self._t)
        self.dropout = dropout
        self.weight_decay = weight_decay
        self.step_count = 0
        self._seeds = np.random.default_rng(seed)
        self._threshold = np.uint32(min(round(dropout * 2**32), 2**32 - 1))
        self._scale = np.float32(1.0 / (1.0 - dropout))
        self._slot_of = np.full(self._t.shape[0], -1, dtype=np.int32)
        self._no_keep = np.zeros((1, 1), dtype=np.uint8)
        self._buffers(max(max_batch, 1))
        self._rows: tuple[np.ndarray, np.ndarray] | None = None

    def _buffers(self, batch: int) -> None:
        emb = self._t.shape[1]
        self._x = np.empty((batch, 2 * emb), dtype=np.float32)
        self._slot_rows = np.empty(2 * batch, dtype=np.int64)
        self._counts = np.empty(2 * batch, dtype=np.int32)
        self._summed = np.empty((2 * batch, emb), dtype=np.float32)

    @property
    def exp_avg(self) -> torch.Tensor:
        return torch.from_numpy(self._m)

    @property
    def exp_avg_sq(self) -> torch.Tensor:
        return torch.from_numpy(self._v)

    def forward(
        self, rows_u: torch.Tensor, rows_i: torch.Tensor, keep: torch.Tensor | None = None
    ) -> torch.Tensor:
        ru = np.ascontiguousarray(rows_u.numpy(), dtype=np.int64)
        ri = np.ascontiguousarray(rows_i.numpy(), dtype=np.int64)
        batch = len(ru)
        if batch > self._x.shape[0]:
            self._buffers(batch)
        x = self._x[:batch]
        if keep is not None:
            keep_array = np.ascontiguousarray(keep.numpy() != 0, dtype=np.uint8)
        else:
            keep_array = self._no_keep
        seed = np.uint32(self._seeds.integers(0, 2**32))
        _gather_forward(
            self._t, ru, ri, seed, self._threshold, self._scale, keep_array, keep is not None, x
        )
        self._rows = (ru, ri)
        return torch.from_numpy(x).requires_grad_()

    def backward_step(
        self, grad_x: torch.Tensor, lr: float, exchange: Exchange | None = None
    ) -> None:
        assert self._rows is not None, "backward_step before forward"
        ru, ri = self._rows
        self._rows = None
        x = self._x[: len(ru)]
        if exchange is not None:
            joined = exchange(
                [torch.from_numpy(ru), torch.from_numpy(ri), torch.from_numpy(x), grad_x]
            )
            ru, ri, x = (np.ascontiguousarray(t.numpy()) for t in joined[:3])
            grad_x = joined[3]
            if 2 * len(ru) > len(self._slot_rows):
                self._buffers(len(ru))
        self.step_count += 1
        _scatter_adam(
            self._t,
            self._m,
            self._v,
            ru,
            ri,
            np.ascontiguousarray(grad_x.numpy()),
            x,
            self._scale,
            self._slot_of,
            self._slot_rows,
            self._counts,
            self._summed,
            np.float32(_step_size(lr, self.step_count, self.beta2)),
            np.float32(self.weight_decay),
            # 1 - beta2 rounded once, as TorchRows' float32 arithmetic has it.
            np.float32(1.0 - self.beta2),
        )


def warm_up_kernels() -> float:
    """Compile (or load from numba's cache) the fused kernels; returns the seconds it took."""
    if not HAVE_NUMBA:
        return 0.0
    started = time.perf_counter()
    table = torch.zeros((4, 2), dtype=torch.float32)
    rows = FusedRows(table, dropout=0.5, weight_decay=0.0, max_batch=2)
    x = rows.forward(torch.tensor([0, 1]), torch.tensor([2, 3]))
    rows.backward_step(torch.ones_like(x), 1e-3)
    x = rows.forward(torch.tensor([0, 1]), torch.tensor([2, 3]), torch.ones((2, 4)))
    rows.backward_step(torch.ones_like(x), 1e-3)
    seconds = time.perf_counter() - started
    log.debug("fused kernels ready in %.2f s (numba %s)", seconds, numba.__version__)
    return seconds
