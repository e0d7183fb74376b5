"""Metrics against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nncf_core.ml.metrics import hit_rate_at_k, mae, ndcg_at_k, rmse


def test_rmse_and_mae() -> None:
    predicted = np.array([3.0, 4.0, 2.0, 5.0])
    actual = np.array([4.0, 4.0, 0.0, 4.0])
    # errors -1, 0, 2, 1: squares 1, 0, 4, 1 -> mean 1.5
    assert rmse(predicted, actual) == pytest.approx(math.sqrt(1.5))
    assert mae(predicted, actual) == pytest.approx(1.0)
    assert math.isnan(rmse(np.array([]), np.array([])))
    with pytest.raises(ValueError):
        mae(np.array([1.0]), np.array([1.0, 2.0]))


def test_hit_rate_at_k() -> None:
    ranked = [[5, 3, 9], [1, 2, 4], [7, 8, 6], [1, 2, 3]]
    relevant = [{9}, {3}, {7, 100}, set()]  # the last user has nothing to judge
    assert hit_rate_at_k(ranked, relevant, 3) == pytest.approx(2 / 3)
    assert hit_rate_at_k(ranked, relevant, 2) == pytest.approx(1 / 3)
    assert hit_rate_at_k(ranked, relevant, 1) == pytest.approx(1 / 3)
    assert math.isnan(hit_rate_at_k([[1]], [set()], 1))
    with pytest.raises(ValueError):
        hit_rate_at_k(ranked, relevant, 0)


def test_ndcg_at_k_binary() -> None:
    # Relevant at positions 1 and 3 of 3; two relevant items in total.
    dcg = 1 / math.log2(2) + 1 / math.log2(4)
    idcg = 1 / math.log2(2) + 1 / math.log2(3)
    assert ndcg_at_k([[10, 11, 12]], [{10, 12}], 3) == pytest.approx(dcg / idcg)
    assert ndcg_at_k([[10, 11, 12]], [{10, 12}], 1) == pytest.approx(1.0)
    # Mean over users: a perfect list and a miss.
    assert ndcg_at_k([[1, 2], [3, 4]], [{1}, {5}], 2) == pytest.approx(0.5)


def test_ndcg_at_k_graded() -> None:
    gains = {1: 3.0, 2: 1.0}
    dcg = 1.0 / math.log2(2) + 3.0 / math.log2(3)
    idcg = 3.0 / math.log2(2) + 1.0 / math.log2(3)
    assert ndcg_at_k([[2, 1]], [gains], 2) == pytest.approx(dcg / idcg)
    assert ndcg_at_k([[1, 2]], [gains], 2) == pytest.approx(1.0)
