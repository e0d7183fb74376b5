"""The engine's default order: the item-to-item ranker stored in the artifact."""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pytest

from nncf_core.ml.artifacts import ModelArtifact
from nncf_core.ml.data import load_ratings
from nncf_core.ml.ranking import (
    META_KEY,
    RankerState,
    UserHistory,
    fit_ranker,
    ranker_to_extras,
    ranking_scores,
)
from nncf_core.recommend.base import Filters
from nncf_core.services.users import UserKey
from tests.nncf_core.recommend.conftest import Planted
from tests.nncf_core.recommend.data import publish
from tests.nncf_core.recommend.test_engine import OPEN, SCI_FI_FAN, forward_ranking


def with_ranker(planted: Planted, artifact: ModelArtifact) -> tuple[ModelArtifact, RankerState]:
    """``artifact`` plus a ranker fitted on the planted ratings, published as the active one."""
    state = fit_ranker(load_ratings(planted.db), artifact.items)
    tensors, meta = ranker_to_extras(state)
    ranked = replace(artifact, extras=tensors, extras_meta={META_KEY: meta})
    publish(planted.db, planted.model_dir, ranked, "ranked")
    return ranked, state


def ranker_order(
    state: RankerState, artifact: ModelArtifact, movies: np.ndarray, times: np.ndarray, n: int
) -> list[int]:
    """Reference: the ranker's scores of every movie not in ``movies``, best first (ties:
    lower id), for a user who rated ``movies`` at ``times``."""
    rows = artifact.items.rows(movies)
    scores = ranking_scores(state, UserHistory.single(rows, times))[0].numpy()
    allowed = np.setdiff1d(np.arange(len(artifact.items)), rows)
    order = allowed[np.lexsort((allowed, -scores[allowed]))]
    return [int(m) for m in artifact.items.ids[order[:n]]]


def test_the_ranker_orders_and_the_rating_model_gives_the_stars(
    planted: Planted, planted_artifact: ModelArtifact
) -> None:
    artifact, state = with_ranker(planted, planted_artifact)
    data = load_ratings(planted.db)
    mine = data.user_ids == 1
    recommender = planted.recommender()
    result = recommender.recommend(SCI_FI_FAN, 12, OPEN)
    assert result.model_version_id == recommender.model_version_id
    assert recommender.info()["ranker"] == "item-to-item"
    ids = [item.movie.id for item in result.items]
    assert ids == ranker_order(state, artifact, data.movie_ids[mine], data.timestamps[mine], 12)
    by_stars, stars = forward_ranking(planted_artifact, 1, set(data.movie_ids[mine].tolist()))
    assert ids != by_stars[:12]  # the two disagree: the list follows the ranker
    forward = dict(zip(by_stars, np.clip(stars, 0.5, 5.0), strict=True))
    np.testing.assert_allclose(
        [item.predicted_stars for item in result.items], [forward[m] for m in ids], atol=1e-5
    )
    assert [i.score for i in result.items] == sorted((i.score for i in result.items), reverse=True)


def test_filters_new_users_and_batches_with_the_ranker(
    planted: Planted, planted_artifact: ModelArtifact
) -> None:
    with_ranker(planted, planted_artifact)
    fan = planted.sci_fi_fan("newcomer")
    recommender = planted.recommender()
    romance = recommender.recommend(SCI_FI_FAN, 5, Filters(genres=("romance",), min_ratings=0))
    assert len(romance.items) == 5 and all(17 <= i.movie.id <= 32 for i in romance.items)
    users = [UserKey.parse(f"movielens:{u}") for u in range(1, 8)] + [fan, UserKey.parse("x")]
    many = recommender.recommend_many(users, 6, OPEN)
    for user, batch in zip(users, many, strict=True):
        single = recommender.recommend(user, 6, OPEN)
        assert [i.movie.id for i in batch.items] == [i.movie.id for i in single.items]
        np.testing.assert_allclose(
            [i.predicted_stars for i in batch.items],
            [i.predicted_stars for i in single.items],
            atol=1e-5,
        )
    assert many[-2].folded_in and not {1, 3, 5, 7, 9, 17, 20} & {i.movie.id for i in many[-2].items}
    assert many[-1].cold_start


def test_an_unreadable_ranker_falls_back_to_predicted_stars(
    planted: Planted, planted_artifact: ModelArtifact, caplog: pytest.LogCaptureFixture
) -> None:
    state = fit_ranker(load_ratings(planted.db), planted_artifact.items)
    tensors, meta = ranker_to_extras(state)
    broken = replace(
        planted_artifact, extras=tensors, extras_meta={META_KEY: {**meta, "format_version": 99}}
    )
    version_id = publish(planted.db, planted.model_dir, broken, "broken")
    recommender = planted.recommender()
    with caplog.at_level(logging.WARNING, logger="nncf_core.recommend.serving"):
        result = recommender.recommend(SCI_FI_FAN, 8, OPEN)
    assert result.model_version_id == version_id
    assert "format version 99" in caplog.text and "predicted rating" in caplog.text
    assert recommender.info()["ranker"] == "rating"
    rated = set(planted.core.ratings.user_ratings(SCI_FI_FAN))
    expected, _ = forward_ranking(planted_artifact, 1, rated)
    assert [i.movie.id for i in result.items] == expected[:8]
