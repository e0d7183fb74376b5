"""The algebraic top-N: every catalogue item scored for a user without a forward pass.

The network computes ``lin2(relu(lin1(relu([u; v]))))``. The ReLU of a
concatenation is the concatenation of the ReLUs, and dropout is the identity at
inference, so the hidden pre-activation splits into a user half and an item half::

    lin1(relu([u; v])) = W_u relu(u) + b1  +  W_v relu(v)
                         \\_ user part a _/    \\_ item part T[v] _/

``T = relu(V) W_v^T`` (items x n_hidden, float32, C-contiguous) is computed once
per model version. A request is then ``b2 + w2 . relu(a + T[i])`` for every item
``i``: one small addition, a ReLU and a matrix-vector product over the
catalogue, fused with the top-k selection in one compiled pass so the 40 bytes
per item of ``T`` are read once (that read is the memory-bandwidth floor).

Selection is exact: a block of scores is skipped only when its maximum cannot
beat the current k-th best; filters and exclusions are checked only for items
that would enter the top k, so the common case stays a tight vectorised loop.
Order is score descending, then row ascending (rows follow movie ids), the same
order a stable sort of the forward pass's output gives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

# Reassociation lets LLVM vectorise the n_hidden reduction; NaN/inf semantics are
# kept (no "nnan"/"ninf") because selection compares against -inf thresholds.
_FAST = {"reassoc", "contract", "nsz", "arcp"}
BLOCK = 1024
"""Items per block: small enough that a block of scores stays in L1/L2."""
BATCH_BLOCK = 256
NO_YEAR = -1
"""Year stored for movies without one; no year bound ever admits it."""
INT32_MIN = np.iinfo(np.int32).min
INT32_MAX = np.iinfo(np.int32).max


@dataclass(frozen=True)
class ScoringHead:
    """``score(user, item) = b2 + w2 . relu(user_part + item_part[item]) + item_bias[item]``.

    The rating model is one head; a ranker may bring another (a second output
    layer, a popularity prior as ``item_bias``) over the same algebra.
    """

    item_part: np.ndarray
    """``relu(V) W_v^T``: (items, n_hidden) float32, C-contiguous."""
    user_weight: np.ndarray
    """``W_u``: (n_hidden, emb_size) float32."""
    user_bias: np.ndarray
    """``b1``: (n_hidden,) float32."""
    out_weight: np.ndarray
    """``w2``: (n_hidden,) float32."""
    out_bias: float
    """``b2``."""
    item_bias: np.ndarray
    """(items,) float32 added to every score, or an empty array for none."""

    @classmethod
    def from_state_dict(
        cls, state: dict[str, object], emb_size: int, item_bias: np.ndarray | None = None
    ) -> ScoringHead:
        """The head of an :class:`~nncf_core.ml.model.NNCollabFiltering` state_dict."""
        item_emb = _array(state["item_emb.weight"])
        lin1_w = _array(state["lin1.weight"])
        w_user, w_item = lin1_w[:, :emb_size], lin1_w[:, emb_size:]
        # float64 for the one-off product so the table carries no extra rounding
        # beyond the final float32 cast.
        item_part = np.maximum(item_emb, 0).astype(np.float64) @ w_item.astype(np.float64).T
        return cls(
            item_part=np.ascontiguousarray(item_part, dtype=np.float32),
            user_weight=np.ascontiguousarray(w_user, dtype=np.float32),
            user_bias=_array(state["lin1.bias"]),
            out_weight=np.ascontiguousarray(_array(state["lin2.weight"]).reshape(-1)),
            out_bias=float(_array(state["lin2.bias"]).reshape(-1)[0]),
            item_bias=(
                np.empty(0, np.float32)
                if item_bias is None
                else np.ascontiguousarray(item_bias, dtype=np.float32)
            ),
        )

    @property
    def n_items(self) -> int:
        return int(self.item_part.shape[0])

    @property
    def nbytes(self) -> int:
        return int(self.item_part.nbytes + self.item_bias.nbytes)

    def with_item_bias(self, item_bias: np.ndarray) -> ScoringHead:
        return ScoringHead(
            self.item_part,
            self.user_weight,
            self.user_bias,
            self.out_weight,
            self.out_bias,
            np.ascontiguousarray(item_bias, dtype=np.float32),
        )

    def user_parts(self, user_vectors: np.ndarray) -> np.ndarray:
        """``W_u relu(u) + b1`` for one (emb_size,) or many (users, emb_size) vectors."""
        vectors = np.maximum(np.asarray(user_vectors, dtype=np.float32), 0)
        parts = vectors @ self.user_weight.T + self.user_bias
        return np.ascontiguousarray(parts, dtype=np.float32)

    def scores(self, user_part: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Scores of ``rows`` (all items when None) for one user part, by the kernels'
        arithmetic (so they equal what :meth:`top_k` reports)."""
        part = np.ascontiguousarray(user_part, dtype=np.float32)
        if rows is None:
            rows = np.arange(self.n_items, dtype=np.int64)
        return _score_rows(
            self.item_part, part, self.out_weight, self.out_bias, self.item_bias,
            np.ascontiguousarray(rows, dtype=np.int64),
        )  # fmt: skip

    def top_k(
        self, user_parts: np.ndarray, k: int, query: CandidateQuery, excluded: list[np.ndarray]
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Exact top ``k`` (rows, scores) per user part, best first, among allowed items."""
        parts = np.ascontiguousarray(np.atleast_2d(user_parts), dtype=np.float32)
        n_users = parts.shape[0]
        if len(excluded) != n_users:
            raise ValueError("one exclusion array per user")
        picks = _picks(excluded, k)
        if k > 0 and self.n_items > 0:
            head = (self.out_weight, self.out_bias, self.item_bias)
            if n_users < BATCH_MIN_USERS:
                for u in range(n_users):
                    _top_k_one(self.item_part, parts[u], u, head, query.arrays(), picks)
            else:
                parts_t = np.ascontiguousarray(parts.T)
                _top_k_batch(self.item_part, parts_t, head, query.arrays(), picks)
        return _results(picks)


BATCH_MIN_USERS = 4
"""From this many users on, one pass over the item table for all of them beats
one pass each (benchmarks/serve.py measures both)."""


@dataclass(frozen=True)
class CandidateQuery:
    """Per-item arrays of one model version plus one request's bounds, as the kernels take
    them: ``genre_mask`` 0 means any genre; a movie passes when it has any of the bits."""

    genre_bits: np.ndarray
    """(items,) uint64: bit g set when the movie has genre g."""
    years: np.ndarray
    """(items,) int32, :data:`NO_YEAR` when unknown."""
    counts: np.ndarray
    """(items,) int32 number of ratings; negative for items missing from the database."""
    genre_mask: int = 0
    year_from: int = INT32_MIN
    year_to: int = INT32_MAX
    min_count: int = 0

    def arrays(self) -> tuple[object, ...]:
        return (
            self.genre_bits,
            np.uint64(self.genre_mask),
            self.years,
            self.year_from,
            self.year_to,
            self.counts,
            max(0, self.min_count),
        )

    def allowed(self) -> np.ndarray:
        """The same rule as the kernels, as a boolean mask (for references and tests)."""
        mask = (self.counts >= max(0, self.min_count)) & (self.years >= self.year_from)
        mask &= self.years <= self.year_to
        if self.genre_mask:
            mask &= (self.genre_bits & np.uint64(self.genre_mask)) != 0
        return mask


def open_query(n_items: int) -> CandidateQuery:
    """A query that admits every item (for catalogues without metadata, e.g. benchmarks)."""
    return CandidateQuery(
        genre_bits=np.zeros(n_items, np.uint64),
        years=np.zeros(n_items, np.int32),
        counts=np.zeros(n_items, np.int32),
    )


def top_k_dense(
    scores: np.ndarray, k: int, query: CandidateQuery, excluded: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top ``k`` of an already computed score vector, with the same filters and order."""
    values = np.ascontiguousarray(scores, dtype=np.float32).reshape(-1, 1)
    picks = _picks([excluded], k)
    if k > 0 and values.shape[0] > 0:
        _select_block(values, values.shape[0], 0, query.arrays(), picks)
    return _results(picks)[0]


def _array(value: object) -> np.ndarray:
    tensor = value.detach().cpu() if hasattr(value, "detach") else value  # type: ignore[union-attr]
    return np.ascontiguousarray(np.asarray(tensor, dtype=np.float32))


_Picks = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _picks(excluded: list[np.ndarray], k: int) -> _Picks:
    """What the kernels fill: per user, sorted unique excluded rows packed as CSR
    (offsets, rows), and k empty slots (rows, scores, how many are used)."""
    parts = [np.unique(np.asarray(rows, dtype=np.int64)) for rows in excluded]
    ptr = np.zeros(len(parts) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([len(p) for p in parts])
    rows = np.concatenate(parts) if parts else np.empty(0, np.int64)
    n_users = len(parts)
    return (
        ptr,
        np.ascontiguousarray(rows, dtype=np.int64),
        np.full((n_users, k), -1, dtype=np.int64),
        np.full((n_users, k), -np.inf, dtype=np.float32),
        np.zeros(n_users, dtype=np.int64),
    )


def _results(picks: _Picks) -> list[tuple[np.ndarray, np.ndarray]]:
    _, _, rows, scores, counts = picks
    return [(rows[u, : counts[u]], scores[u, : counts[u]]) for u in range(len(counts))]


@njit(nogil=True, cache=True, fastmath=_FAST)
def _score_one(table, part, w2, b2, bias, start, stop, buf):  # type: ignore[no-untyped-def]
    n_hidden = table.shape[1]
    zero = np.float32(0.0)
    offset = np.float32(b2)
    has_bias = bias.shape[0] > 0
    best = -np.inf
    for i in range(start, stop):
        s = zero
        for h in range(n_hidden):
            s += w2[h] * max(table[i, h] + part[h], zero)
        s += offset
        if has_bias:
            s += bias[i]
        buf[i - start, 0] = s
        best = max(best, s)
    return best


@njit(nogil=True, cache=True, fastmath=_FAST)
def _score_rows(table, part, w2, b2, bias, rows):  # type: ignore[no-untyped-def]
    out = np.empty(rows.shape[0], np.float32)
    zero = np.float32(0.0)
    offset = np.float32(b2)
    has_bias = bias.shape[0] > 0
    for j in range(rows.shape[0]):
        i = rows[j]
        s = zero
        for h in range(table.shape[1]):
            s += w2[h] * max(table[i, h] + part[h], zero)
        s += offset
        if has_bias:
            s += bias[i]
        out[j] = s
    return out


@njit(nogil=True, cache=True, fastmath=_FAST)
def matvec(matrix, vector):  # type: ignore[no-untyped-def]
    """``matrix @ vector`` in float32, single-threaded.

    numpy hands this to a multi-threaded BLAS, which on a small busy machine takes
    15 ms for 87,000 x 32 (threads waiting for cores); this loop takes 0.2 ms.
    """
    out = np.empty(matrix.shape[0], np.float32)
    for i in range(matrix.shape[0]):
        s = np.float32(0.0)
        for j in range(matrix.shape[1]):
            s += matrix[i, j] * vector[j]
        out[i] = s
    return out


@njit(nogil=True, cache=True, fastmath=_FAST)
def best_matches(queries, candidates):  # type: ignore[no-untyped-def]
    """For each query row, the index of the candidate row with the largest dot product
    (the first on ties) and that product."""
    best = np.zeros(queries.shape[0], np.int64)
    value = np.full(queries.shape[0], -np.inf, np.float32)
    for q in range(queries.shape[0]):
        for c in range(candidates.shape[0]):
            s = np.float32(0.0)
            for j in range(queries.shape[1]):
                s += queries[q, j] * candidates[c, j]
            if s > value[q]:
                value[q] = s
                best[q] = c
    return best, value


@njit(nogil=True, cache=True, fastmath=_FAST)
def _score_batch(table, parts_t, w2, b2, bias, start, stop, buf):  # type: ignore[no-untyped-def]
    # Users innermost: one item row feeds every user, and the loop vectorises over users.
    n_hidden = table.shape[1]
    n_users = parts_t.shape[1]
    zero = np.float32(0.0)
    offset = np.float32(b2)
    has_bias = bias.shape[0] > 0
    for i in range(start, stop):
        row = buf[i - start]
        base = offset + bias[i] if has_bias else offset
        for u in range(n_users):
            row[u] = base
        for h in range(n_hidden):
            t = table[i, h]
            w = w2[h]
            ph = parts_t[h]
            for u in range(n_users):
                x = t + ph[u]
                row[u] += w * (x if x > zero else zero)


@njit(nogil=True, cache=True)
def _is_excluded(row, ex_rows, lo, hi):  # type: ignore[no-untyped-def]
    if lo == hi:
        return False
    pos = lo + np.searchsorted(ex_rows[lo:hi], row)
    return pos < hi and ex_rows[pos] == row


@njit(nogil=True, cache=True)
def _select_block(buf, m, start, query, picks):  # type: ignore[no-untyped-def]
    """Offer rows ``start .. start+m`` (scores in ``buf[:m, u]``) to each user's top k.

    ``query`` is :meth:`CandidateQuery.arrays`; ``picks`` holds the users' exclusions
    (CSR offsets and rows) and their top-k slots (rows, scores, counts).
    """
    genre_bits, genre_mask, years, year_from, year_to, counts, min_count = query
    ex_ptr, ex_rows, out_rows, out_scores, out_count = picks
    k = out_rows.shape[1]
    for u in range(buf.shape[1]):
        cnt = out_count[u]
        if cnt == k:
            # A block that cannot beat the k-th best is skipped after one cheap max.
            best = buf[0, u]
            for j in range(1, m):
                if buf[j, u] > best:
                    best = buf[j, u]
            if not best > out_scores[u, k - 1]:
                continue
        lo = ex_ptr[u]
        hi = ex_ptr[u + 1]
        for j in range(m):
            s = buf[j, u]
            if cnt == k and not s > out_scores[u, k - 1]:
                continue
            i = start + j
            if counts[i] < min_count or years[i] < year_from or years[i] > year_to:
                continue
            if genre_mask != 0 and (genre_bits[i] & genre_mask) == 0:
                continue
            if _is_excluded(i, ex_rows, lo, hi):
                continue
            # Insertion into the descending list; equal scores keep the earlier row first.
            p = cnt if cnt < k else k - 1
            while p > 0 and out_scores[u, p - 1] < s:
                out_scores[u, p] = out_scores[u, p - 1]
                out_rows[u, p] = out_rows[u, p - 1]
                p -= 1
            out_scores[u, p] = s
            out_rows[u, p] = i
            if cnt < k:
                cnt += 1
        out_count[u] = cnt


@njit(nogil=True, cache=True)
def _top_k_one(table, part, u, head, query, picks):  # type: ignore[no-untyped-def]
    w2, b2, bias = head
    ex_ptr, ex_rows, out_rows, out_scores, out_count = picks
    # This user's slots as a batch of one, so the selection code is the batch's.
    mine = (
        ex_ptr[u : u + 2],
        ex_rows,
        out_rows[u : u + 1],
        out_scores[u : u + 1],
        out_count[u : u + 1],
    )
    buf = np.empty((BLOCK, 1), np.float32)
    n = table.shape[0]
    k = out_rows.shape[1]
    for start in range(0, n, BLOCK):
        stop = min(n, start + BLOCK)
        best = _score_one(table, part, w2, b2, bias, start, stop, buf)
        # The block's maximum comes with the scores: most blocks end here.
        if mine[4][0] == k and not best > mine[3][0, k - 1]:
            continue
        _select_block(buf, stop - start, start, query, mine)


@njit(nogil=True, cache=True)
def _top_k_batch(table, parts_t, head, query, picks):  # type: ignore[no-untyped-def]
    w2, b2, bias = head
    buf = np.empty((BATCH_BLOCK, parts_t.shape[1]), np.float32)
    n = table.shape[0]
    for start in range(0, n, BATCH_BLOCK):
        stop = min(n, start + BATCH_BLOCK)
        _score_batch(table, parts_t, w2, b2, bias, start, stop, buf)
        _select_block(buf, stop - start, start, query, picks)
