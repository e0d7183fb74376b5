"""The Bayesian-average popular list: the cold-start answer and the no-model fallback."""

from __future__ import annotations

import numpy as np
import pytest

from nncf_core.app import Core
from nncf_core.errors import InvalidInput, UnknownUser
from nncf_core.recommend.base import Filters
from nncf_core.recommend.popularity import PopularityRecommender, bayesian_average
from nncf_core.services.users import UserKey


def test_bayesian_average_formula() -> None:
    sums = np.array([5.0, 45.0, 0.0])
    counts = np.array([1, 10, 0])
    values = bayesian_average(sums, counts, prior_mean=3.0, prior_count=10.0)
    np.testing.assert_allclose(values, [(30 + 5) / 11, (30 + 45) / 20, 3.0])


def _rate_many(core: Core, movie_id: int, stars: list[float]) -> None:
    for i, value in enumerate(stars):
        core.ratings.rate(UserKey.parse(f"rater{i}"), movie_id, value, "console")


@pytest.fixture
def rated(core: Core) -> Core:
    """Toy Story: one 5-star rating. Matrix: 12 ratings of 4.5. Heat (1995): 12 of 3."""
    _rate_many(core, 1, [5.0])
    _rate_many(core, 3, [4.5] * 12)
    _rate_many(core, 4, [3.0] * 12)
    _rate_many(core, 9, [4.0] * 3)
    return core


def test_one_lucky_rating_does_not_top_the_list(rated: Core) -> None:
    popular = PopularityRecommender(rated.db, rated.catalog).popular(4, Filters(min_ratings=0))
    ids = [item.movie.id for item in popular]
    assert ids[0] == 3
    assert ids.index(3) < ids.index(1)
    mean = (5.0 + 4.5 * 12 + 3.0 * 12 + 4.0 * 3) / 28
    assert popular[0].predicted_stars == pytest.approx((10 * mean + 54) / 22, rel=1e-5)
    scores = [item.score for item in popular]
    assert scores == sorted(scores, reverse=True)


def test_the_default_minimum_of_ratings_applies(rated: Core) -> None:
    ids = [item.movie.id for item in PopularityRecommender(rated.db, rated.catalog).popular(10)]
    assert ids == [3, 4]


def test_cold_start_users_get_popular_movies_except_hidden(rated: Core) -> None:
    newcomer = UserKey.parse("newcomer")
    rated.ratings.flag(newcomer, 3, "not_interested")
    result = PopularityRecommender(rated.db, rated.catalog).recommend(newcomer, 5)
    assert result.cold_start and result.model_version_id is None
    assert [item.movie.id for item in result.items] == [4]


def test_users_with_ratings_are_not_cold_start(rated: Core) -> None:
    result = PopularityRecommender(rated.db, rated.catalog).recommend(UserKey.parse("rater0"))
    assert not result.cold_start
    assert result.items == []  # rated both movies with 10+ ratings


def test_filters_and_errors(rated: Core) -> None:
    popularity = PopularityRecommender(rated.db, rated.catalog)
    ids = [m.movie.id for m in popularity.popular(5, Filters(genres=("crime",), min_ratings=0))]
    assert set(ids) == {4, 9}
    ids = [m.movie.id for m in popularity.popular(5, Filters(year_to=1980, min_ratings=0))]
    assert ids == [9, 6]  # Godfather (1972), rated; Alien (1979), unrated: the mean
    with pytest.raises(InvalidInput, match="Unknown genre"):
        popularity.popular(5, Filters(genres=("Western",)))
    with pytest.raises(InvalidInput):
        popularity.popular(0)
    with pytest.raises(InvalidInput):
        Filters(year_from=2000, year_to=1990)
    with pytest.raises(UnknownUser):
        popularity.recommend(UserKey.parse("movielens:99"))


def test_new_ratings_show_after_the_table_expires(rated: Core) -> None:
    popularity = PopularityRecommender(rated.db, rated.catalog, ttl_s=3600)
    assert [m.movie.id for m in popularity.popular(1)] == [3]
    _rate_many(rated, 4, [5.0] * 40)
    assert [m.movie.id for m in popularity.popular(1)] == [3]
    popularity.invalidate()
    assert [m.movie.id for m in popularity.popular(1)] == [4]
