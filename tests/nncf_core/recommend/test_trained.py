"""The recommender over a model really trained with ``train_model`` on the planted data."""

from __future__ import annotations

import pytest

from nncf_core.ml.artifacts import ModelArtifact
from nncf_core.recommend.base import Filters
from nncf_core.services.users import UserKey
from tests.nncf_core.recommend.conftest import Planted
from tests.nncf_core.recommend.data import movie_genre, publish
from tests.nncf_core.recommend.test_engine import forward_ranking

OPEN = Filters(min_ratings=0)
pytestmark = pytest.mark.slow  # trains a model (a few seconds)


@pytest.fixture
def trained(planted: Planted, trained_artifact: ModelArtifact) -> Planted:
    planted.version_id = publish(planted.db, planted.model_dir, trained_artifact, "trained")
    return planted


def test_a_new_sci_fi_fan_gets_sci_fi_from_a_trained_model(trained: Planted) -> None:
    fan = trained.sci_fi_fan("trekkie")
    result = trained.recommender().recommend(fan, 5, OPEN)
    assert result.folded_in and result.model_version_id == trained.version_id
    genres = [movie_genre(i.movie.id) for i in result.items]
    assert genres.count("Sci-Fi") >= 4, genres


def test_trained_users_get_their_genre_exactly_as_the_forward_pass_ranks(
    trained: Planted, trained_artifact: ModelArtifact
) -> None:
    recommender = trained.recommender()
    for user_id, loved in ((1, "Sci-Fi"), (2, "Romance"), (3, "Comedy")):
        user = UserKey.parse(f"movielens:{user_id}")
        result = recommender.recommend(user, 3, OPEN)
        assert not result.folded_in
        rated = set(trained.core.ratings.user_ratings(user))
        expected, _ = forward_ranking(trained_artifact, user_id, rated)
        assert [i.movie.id for i in result.items] == expected[:3]
        assert [movie_genre(i.movie.id) for i in result.items] == [loved] * 3


def test_an_unrating_makes_the_trained_vector_stale(trained: Planted) -> None:
    user = UserKey.parse("movielens:1")
    recommender = trained.recommender()
    assert not recommender.recommend(user, 3, OPEN).folded_in
    rated = sorted(trained.core.ratings.user_ratings(user))
    trained.core.ratings.unrate(user, rated[0])
    # Removing a rating leaves no newer timestamp; the count tells the model is stale.
    after = recommender.recommend(user, 3, OPEN)
    assert after.folded_in
    assert [movie_genre(i.movie.id) for i in after.items] == ["Sci-Fi"] * 3
