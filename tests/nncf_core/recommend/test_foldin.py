"""Folding a user in: fitting their vector now, against their current ratings."""

from __future__ import annotations

import numpy as np

from nncf_core.ml.artifacts import ModelArtifact
from nncf_core.recommend.foldin import FoldInCache, FoldInConfig, _Problem, fold_in
from nncf_core.recommend.scoring import ScoringHead
from tests.nncf_core.recommend.data import GENRES, PER_GENRE, movie_genre


def _loss(head: ScoringHead, vector: np.ndarray, rows: np.ndarray, stars: np.ndarray) -> float:
    residual = head.scores(head.user_parts(vector), rows) - stars
    return float(np.mean(residual**2))


def _setup(artifact: ModelArtifact) -> tuple[ScoringHead, np.ndarray]:
    head = ScoringHead.from_state_dict(artifact.state_dict, artifact.model_config.emb_size)
    users = artifact.state_dict["user_emb.weight"].numpy()
    return head, np.maximum(users, 0).mean(axis=0)


def test_fold_in_explains_the_ratings_better_than_the_mean_user(
    planted_artifact: ModelArtifact,
) -> None:
    head, mean_user = _setup(planted_artifact)
    movie_ids = np.arange(1, 9)  # Sci-Fi 1..8
    rows = planted_artifact.items.rows(movie_ids)
    stars = np.full(len(rows), 5.0, dtype=np.float32)
    vector = fold_in(head, mean_user, rows, stars)
    assert vector.shape == mean_user.shape and vector.dtype == np.float32
    assert np.all(vector >= 0)
    assert _loss(head, vector, rows, stars) < 0.5 * _loss(head, mean_user, rows, stars)
    np.testing.assert_array_equal(vector, fold_in(head, mean_user, rows, stars))


def test_fold_in_recovers_a_trained_users_taste(planted_artifact: ModelArtifact) -> None:
    """Refitting a trained user from their ratings alone ranks the genres like they do."""
    head, mean_user = _setup(planted_artifact)
    user_emb = planted_artifact.state_dict["user_emb.weight"].numpy()
    all_rows = np.arange(len(planted_artifact.items))
    genres = np.array([movie_genre(int(m)) for m in planted_artifact.items.ids])
    for user_row, loved in ((0, GENRES[0]), (1, GENRES[1]), (2, GENRES[2])):
        trained = head.scores(head.user_parts(user_emb[user_row]))
        picked = all_rows[:: PER_GENRE // 4]  # a few movies of every genre
        others = np.maximum(np.delete(user_emb, user_row, axis=0)[:40], 0)
        vector = fold_in(head, mean_user, picked, trained[picked], starts=others)
        refit = head.scores(head.user_parts(vector))
        best = genres[np.argsort(-refit)[:5]]
        assert (best == loved).all(), (loved, best)


def test_more_starts_never_fit_worse(planted_artifact: ModelArtifact) -> None:
    head, mean_user = _setup(planted_artifact)
    starts = np.maximum(planted_artifact.state_dict["user_emb.weight"].numpy()[:30], 0)
    rng = np.random.default_rng(5)
    for _ in range(5):
        rows = rng.choice(len(planted_artifact.items), 8, replace=False)
        stars = rng.choice([1.0, 5.0], 8).astype(np.float32)
        objective = _Problem(head, np.maximum(mean_user, 0), rows, stars, 2.0).loss
        alone = objective(fold_in(head, mean_user, rows, stars).astype(np.float64))
        several = objective(fold_in(head, mean_user, rows, stars, starts=starts).astype(np.float64))
        assert several <= alone + 1e-6
        assert several < objective(np.maximum(mean_user, 0).astype(np.float64))


def test_stronger_prior_stays_closer_to_the_mean_user(planted_artifact: ModelArtifact) -> None:
    head, mean_user = _setup(planted_artifact)
    rows = planted_artifact.items.rows(np.array([1, 2]))
    stars = np.array([5.0, 5.0], dtype=np.float32)
    weak = fold_in(head, mean_user, rows, stars, FoldInConfig(prior_weight=0.1))
    strong = fold_in(head, mean_user, rows, stars, FoldInConfig(prior_weight=50.0))
    assert np.linalg.norm(strong - mean_user) < np.linalg.norm(weak - mean_user)


def test_no_ratings_gives_the_mean_user(planted_artifact: ModelArtifact) -> None:
    head, mean_user = _setup(planted_artifact)
    vector = fold_in(head, mean_user, np.array([], dtype=np.int64), np.array([], np.float32))
    np.testing.assert_allclose(vector, mean_user, rtol=1e-6)


def test_cache_evicts_the_least_recently_used() -> None:
    cache = FoldInCache(capacity=2)
    cache.put("a", np.zeros(1))
    cache.put("b", np.ones(1))
    assert cache.get("a") is not None
    cache.put("c", np.ones(1))
    assert cache.get("b") is None
    assert cache.get("a") is not None and cache.get("c") is not None
    assert len(cache) == 2
