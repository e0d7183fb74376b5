"""The algebraic top-N must rank exactly like the network's forward pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nncf_core.ml.config import ModelConfig
from nncf_core.ml.model import NNCollabFiltering
from nncf_core.recommend.scoring import (
    NO_YEAR,
    CandidateQuery,
    ScoringHead,
    open_query,
    top_k_dense,
)

N_ITEMS = 3000


@pytest.fixture(scope="module")
def network() -> NNCollabFiltering:
    torch.manual_seed(7)
    return NNCollabFiltering(40, N_ITEMS, ModelConfig(emb_size=100, n_hidden=10)).eval()


@pytest.fixture(scope="module")
def head(network: NNCollabFiltering) -> ScoringHead:
    return ScoringHead.from_state_dict(network.state_dict(), 100)


def forward_scores(network: NNCollabFiltering, user: int) -> np.ndarray:
    with torch.no_grad():
        users = torch.full((network.num_items,), user, dtype=torch.long)
        return network(users, torch.arange(network.num_items)).numpy()


def reference_top(scores: np.ndarray, allowed: np.ndarray, k: int) -> np.ndarray:
    """Best first, ties by lower row: what a stable sort of the forward pass gives."""
    rows = np.flatnonzero(allowed)
    return rows[np.lexsort((rows, -scores[rows]))][:k]


def random_query(rng: np.random.Generator, n: int, **bounds: int) -> CandidateQuery:
    years = rng.integers(1950, 2024, n).astype(np.int32)
    years[rng.random(n) < 0.05] = NO_YEAR
    return CandidateQuery(
        genre_bits=rng.integers(0, 16, n).astype(np.uint64),
        years=years,
        counts=rng.integers(-1, 40, n).astype(np.int32),
        **bounds,
    )


def test_ranking_and_values_equal_the_forward_pass(
    network: NNCollabFiltering, head: ScoringHead
) -> None:
    rng = np.random.default_rng(0)
    users = list(range(8))
    vectors = network.user_emb.weight.detach().numpy()[users]
    excluded = [rng.choice(N_ITEMS, 200, replace=False) for _ in users]
    single = [head.top_k(head.user_parts(v), 25, open_query(N_ITEMS), [e]) for v, e in
              zip(vectors, excluded, strict=True)]  # fmt: skip
    batch = head.top_k(head.user_parts(vectors), 25, open_query(N_ITEMS), excluded)
    for u in users:
        expected_scores = forward_scores(network, u)
        allowed = np.ones(N_ITEMS, dtype=bool)
        allowed[excluded[u]] = False
        expected = reference_top(expected_scores, allowed, 25)
        for rows, scores in (single[u][0], batch[u]):
            np.testing.assert_array_equal(rows, expected)
            np.testing.assert_allclose(scores, expected_scores[expected], atol=1e-5, rtol=0)


def test_all_scores_match_the_forward_pass(network: NNCollabFiltering, head: ScoringHead) -> None:
    part = head.user_parts(network.user_emb.weight.detach().numpy()[3])
    np.testing.assert_allclose(head.scores(part), forward_scores(network, 3), atol=1e-5, rtol=0)


@pytest.mark.parametrize("seed", range(6))
def test_filters_select_exactly_the_allowed_items(head: ScoringHead, seed: int) -> None:
    rng = np.random.default_rng(seed)
    bounds = [
        {},
        {"genre_mask": 0b0101},
        {"year_from": 1990, "year_to": 2000},
        {"min_count": 30},
        {"genre_mask": 0b1000, "year_from": 0, "min_count": 5},
        {"year_to": 1960, "year_from": 0},
    ][seed]
    query = random_query(rng, N_ITEMS, **bounds)
    parts = head.user_parts(rng.normal(size=(5, 100)).astype(np.float32))
    excluded = [rng.choice(N_ITEMS, 50, replace=False) for _ in range(5)]
    results = head.top_k(parts, 10, query, excluded)
    for part, ex, (rows, scores) in zip(parts, excluded, results, strict=True):
        allowed = query.allowed()
        allowed[ex] = False
        expected = reference_top(head.scores(part), allowed, 10)
        np.testing.assert_array_equal(rows, expected)
        assert np.all(np.diff(scores) <= 0)
        assert not set(rows) & set(ex)


def test_unknown_years_never_pass_a_year_bound(head: ScoringHead) -> None:
    query = CandidateQuery(
        genre_bits=np.zeros(N_ITEMS, np.uint64),
        years=np.full(N_ITEMS, NO_YEAR, np.int32),
        counts=np.zeros(N_ITEMS, np.int32),
        year_from=0,
        year_to=2000,
    )
    rows, _ = head.top_k(head.user_parts(np.ones(100, np.float32)), 5, query, [np.array([])])[0]
    assert len(rows) == 0


def test_fewer_allowed_items_than_asked_returns_them_all_sorted(head: ScoringHead) -> None:
    query = open_query(N_ITEMS)
    counts = np.full(N_ITEMS, 0, np.int32)
    counts[[5, 17, 2999]] = 50
    query = CandidateQuery(query.genre_bits, query.years, counts, min_count=10)
    part = head.user_parts(np.ones(100, np.float32))
    rows, scores = head.top_k(part, 10, query, [np.array([17])])[0]
    assert sorted(rows.tolist()) == [5, 2999]
    assert scores[0] >= scores[1]


def test_ties_keep_the_lower_row_first() -> None:
    torch.manual_seed(1)
    network = NNCollabFiltering(2, 50, ModelConfig(emb_size=8, n_hidden=4)).eval()
    with torch.no_grad():
        network.item_emb.weight[10:40] = network.item_emb.weight[10]
    head = ScoringHead.from_state_dict(network.state_dict(), 8)
    expected_scores = forward_scores(network, 0)
    # Make every tied item the best, so the tie decides the whole top 10.
    bias = np.where((np.arange(50) >= 10) & (np.arange(50) < 40), 100.0, 0.0).astype(np.float32)
    biased = head.with_item_bias(bias)
    part = biased.user_parts(network.user_emb.weight.detach().numpy()[0])
    rows, scores = biased.top_k(part, 10, open_query(50), [np.array([], dtype=np.int64)])[0]
    np.testing.assert_array_equal(rows, np.arange(10, 20))
    np.testing.assert_allclose(scores, expected_scores[10:20] + 100.0, atol=1e-4)


def test_item_bias_changes_the_order_not_the_rating_head(head: ScoringHead) -> None:
    part = head.user_parts(np.ones(100, np.float32))
    plain_rows, _ = head.top_k(part, 5, open_query(N_ITEMS), [np.array([])])[0]
    bias = np.zeros(N_ITEMS, np.float32)
    bias[[1, 2, 3]] = 1000.0
    rows, scores = head.with_item_bias(bias).top_k(part, 5, open_query(N_ITEMS), [np.array([])])[0]
    assert sorted(rows[:3].tolist()) == [1, 2, 3]
    assert set(plain_rows[:3]) != {1, 2, 3}
    np.testing.assert_allclose(scores[:3], head.scores(part, rows[:3]) + 1000.0, rtol=1e-6)
    np.testing.assert_array_equal(rows[3:], [r for r in plain_rows if r not in (1, 2, 3)][:2])


def test_dense_top_k_uses_the_same_rules() -> None:
    rng = np.random.default_rng(3)
    scores = rng.normal(size=500).astype(np.float32)
    scores[[7, 8]] = 10.0
    query = random_query(rng, 500, min_count=1)
    rows, values = top_k_dense(scores, 20, query, np.array([8]))
    allowed = query.allowed()
    allowed[8] = False
    np.testing.assert_array_equal(rows, reference_top(scores, allowed, 20))
    np.testing.assert_array_equal(values, scores[rows])
