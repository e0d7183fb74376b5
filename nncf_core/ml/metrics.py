"""Accuracy of rating predictions (RMSE, MAE) and of top-k lists (hit rate, NDCG)."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence

import numpy as np

Relevant = Collection[int] | Mapping[int, float]


def rmse(predicted: np.ndarray, actual: np.ndarray) -> float:
    """Root mean squared error; NaN for no values."""
    p, a = _pair(predicted, actual)
    if p.size == 0:
        return math.nan
    return float(np.sqrt(np.mean((p - a) ** 2)))


def mae(predicted: np.ndarray, actual: np.ndarray) -> float:
    """Mean absolute error; NaN for no values."""
    p, a = _pair(predicted, actual)
    if p.size == 0:
        return math.nan
    return float(np.mean(np.abs(p - a)))


def hit_rate_at_k(ranked: Sequence[Sequence[int]], relevant: Sequence[Relevant], k: int) -> float:
    """Share of users with at least one relevant item among their first ``k``.

    ``ranked[u]`` is user u's recommendation list, best first; ``relevant[u]`` the
    items that count as hits (a collection, or a mapping item -> gain > 0). Users
    with nothing relevant are left out; NaN when no user is left.
    """
    _check_k(k)
    hits = []
    for items, good in _judged(ranked, relevant):
        hits.append(any(item in good and _gain(good, item) > 0 for item in items[:k]))
    return float(np.mean(hits)) if hits else math.nan


def ndcg_at_k(ranked: Sequence[Sequence[int]], relevant: Sequence[Relevant], k: int) -> float:
    """Mean normalised discounted cumulative gain at ``k`` (log2 discount).

    Binary relevance for a collection, graded for a mapping item -> gain. Users
    with nothing relevant are left out; NaN when no user is left.
    """
    _check_k(k)
    scores = []
    for items, good in _judged(ranked, relevant):
        dcg = sum(_gain(good, item) / math.log2(i + 2) for i, item in enumerate(items[:k]))
        ideal_gains = sorted((_gain(good, item) for item in good), reverse=True)[:k]
        idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal_gains))
        scores.append(dcg / idcg)
    return float(np.mean(scores)) if scores else math.nan


def _pair(predicted: np.ndarray, actual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(predicted, dtype=np.float64).ravel()
    a = np.asarray(actual, dtype=np.float64).ravel()
    if p.shape != a.shape:
        raise ValueError(f"{p.size} predictions for {a.size} actual values")
    return p, a


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")


def _gain(good: Relevant, item: int) -> float:
    if isinstance(good, Mapping):
        return float(good.get(item, 0.0))
    return 1.0 if item in good else 0.0


def _judged(
    ranked: Sequence[Sequence[int]], relevant: Sequence[Relevant]
) -> list[tuple[Sequence[int], Relevant]]:
    if len(ranked) != len(relevant):
        raise ValueError(f"{len(ranked)} ranked lists for {len(relevant)} relevance sets")
    return [
        (list(items), good)
        for items, good in zip(ranked, relevant, strict=True)
        if any(_gain(good, item) > 0 for item in good)
    ]
