"""What every recommender promises, whatever ranks the movies.

Each implementation subclasses :class:`RecommenderContract` and provides the
``subject`` fixture: the recommender over the planted catalogue, and the core
to rate with.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from nncf_core.app import Core
from nncf_core.db.models import Rating
from nncf_core.recommend.base import Filters, RecommenderLike
from nncf_core.recommend.engine import Recommender
from nncf_core.recommend.popularity import PopularityRecommender
from nncf_core.services.users import UserKey
from nncf_core.settings import Settings
from tests.nncf_core.recommend.conftest import Planted
from tests.nncf_core.recommend.data import movie_genre, seed_planted

USERS = [UserKey.parse(f"movielens:{u}") for u in (1, 2, 3, 50)]


class RecommenderContract:
    @pytest.fixture
    def subject(self) -> tuple[RecommenderLike, Core]:
        raise NotImplementedError

    def test_at_most_n_items(self, subject: tuple[RecommenderLike, Core]) -> None:
        recommender, _ = subject
        for n in (1, 3, 7):
            assert 0 < len(recommender.recommend(USERS[0], n, Filters(min_ratings=0))) <= n

    def test_never_rated_or_hidden_movies(self, subject: tuple[RecommenderLike, Core]) -> None:
        recommender, core = subject
        for user in USERS:
            allowed = recommender.recommend(user, 100, Filters(min_ratings=0)).items
            core.ratings.flag(user, allowed[0].movie.id, "not_interested")
            core.ratings.flag(user, allowed[1].movie.id, "seen")
            hidden = core.ratings.hidden_movies(user)
            rated = set(core.ratings.user_ratings(user))
            items = recommender.recommend(user, 100, Filters(min_ratings=0)).items
            ids = {i.movie.id for i in items}
            assert ids and not ids & (rated | hidden)
            assert len(ids) == len(items)

    def test_sorted_by_score(self, subject: tuple[RecommenderLike, Core]) -> None:
        recommender, _ = subject
        for result in recommender.recommend_many(USERS, 20, Filters(min_ratings=0)):
            scores = [i.score for i in result.items]
            assert scores == sorted(scores, reverse=True)

    def test_respects_filters(self, subject: tuple[RecommenderLike, Core]) -> None:
        recommender, core = subject
        filters = Filters(genres=("comedy",), year_from=1980, year_to=2015, min_ratings=50)
        with core.db.session() as session:
            rows = session.execute(
                select(Rating.movie_id, func.count()).group_by(Rating.movie_id)
            ).all()
        counts = {movie_id: n for movie_id, n in rows}
        results = recommender.recommend_many(USERS, 20, filters)
        assert any(r.items for r in results)
        for result in results:
            for item in result.items:
                assert movie_genre(item.movie.id) == "Comedy"
                assert item.movie.year is not None and 1980 <= item.movie.year <= 2015
                assert counts[item.movie.id] >= 50
        excluded = recommender.recommend(USERS[0], 1, Filters(min_ratings=0)).items[0].movie.id
        again = recommender.recommend(USERS[0], 50, Filters(min_ratings=0, exclude={excluded}))
        assert excluded not in {i.movie.id for i in again.items}

    def test_stars_within_the_scale(self, subject: tuple[RecommenderLike, Core]) -> None:
        recommender, _ = subject
        for result in recommender.recommend_many(USERS, 100, Filters(min_ratings=0)):
            assert all(0.5 <= i.predicted_stars <= 5.0 for i in result.items)

    def test_deterministic(self, subject: tuple[RecommenderLike, Core]) -> None:
        recommender, core = subject
        core.ratings.rate(UserKey.parse("someone"), 2, 4.5, "console")
        for user in [*USERS, UserKey.parse("someone"), UserKey.parse("nobody")]:
            first = recommender.recommend(user, 10, Filters(min_ratings=0))
            second = recommender.recommend(user, 10, Filters(min_ratings=0))
            assert first == second

    def test_cold_start_for_users_without_ratings(
        self, subject: tuple[RecommenderLike, Core]
    ) -> None:
        recommender, _ = subject
        result = recommender.recommend(UserKey.parse("nobody"), 5)
        assert result.cold_start and len(result.items) == 5
        assert not recommender.recommend(USERS[0], 5).cold_start


class TestModelRecommender(RecommenderContract):
    @pytest.fixture
    def subject(self, planted: Planted) -> tuple[RecommenderLike, Core]:
        return planted.recommender(), planted.core


class TestPopularityRecommender(RecommenderContract):
    @pytest.fixture
    def subject(self, planted: Planted) -> tuple[RecommenderLike, Core]:
        return PopularityRecommender(planted.db, planted.core.catalog), planted.core


class TestModelRecommenderWithoutModel(RecommenderContract):
    """The engine before the first training: its popularity fallback."""

    @pytest.fixture
    def subject(self, settings: Settings) -> Iterator[tuple[RecommenderLike, Core]]:
        with Core(settings) as core:
            seed_planted(core.db)
            yield Recommender(core.db, settings.model_dir, core.catalog), core
