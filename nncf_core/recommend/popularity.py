"""Well-rated popular movies: the cold-start list, and the whole answer before any model.

Ranked by a Bayesian average, ``(C*m + sum) / (C + n)``: every movie starts with
``C`` pseudo-ratings at the global mean ``m``, so a film needs many good ratings
to rise above the crowd, where a raw mean would crown any single 5-star rating.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nncf_core.db.engine import Database
from nncf_core.recommend.base import (
    Filters,
    ProfileRecommender,
    Recommendation,
    RecommendationList,
    check_count,
)
from nncf_core.recommend.features import ItemFeatures, load_item_features
from nncf_core.recommend.profiles import UserProfile
from nncf_core.recommend.scoring import top_k_dense
from nncf_core.services.catalog import MovieCatalog, MovieRef

log = logging.getLogger(__name__)

DEFAULT_PRIOR_COUNT = 10.0
"""Pseudo-ratings at the global mean each movie starts with (C)."""
FALLBACK_MEAN = 3.5
"""Global mean to assume when the database has no ratings at all."""
CATALOG_RETRY_S = 60.0


def bayesian_average(
    sums: np.ndarray, counts: np.ndarray, prior_mean: float, prior_count: float
) -> np.ndarray:
    """``(C*m + sum) / (C + n)`` per movie; movies without ratings get ``m``."""
    n = np.maximum(np.asarray(counts, dtype=np.float64), 0)
    return (prior_count * prior_mean + np.asarray(sums, dtype=np.float64)) / (prior_count + n)


@dataclass(frozen=True)
class PopularityTable:
    features: ItemFeatures
    scores: np.ndarray
    """float32 Bayesian average per movie of ``features``."""
    global_mean: float

    @classmethod
    def build(cls, features: ItemFeatures, prior_count: float) -> PopularityTable:
        mean = features.global_mean
        mean = FALLBACK_MEAN if mean is None else mean
        scores = bayesian_average(features.sums, features.counts, mean, prior_count)
        return cls(features, scores.astype(np.float32), mean)

    def top(self, n: int, filters: Filters, excluded_ids: np.ndarray) -> list[tuple[int, float]]:
        """The ``n`` best (movie id, Bayesian average) allowed by ``filters``."""
        rows, scores = top_k_dense(
            self.scores, n, self.features.query(filters), self.features.rows(excluded_ids)
        )
        return [(int(m), float(s)) for m, s in zip(self.features.ids[rows], scores, strict=True)]


class MovieLookup:
    """Movie ids to :class:`MovieRef` through the catalogue, refreshing a stale one."""

    def __init__(self, catalog: MovieCatalog) -> None:
        self.catalog = catalog
        self._refreshed_at = float("-inf")

    def __call__(self, movie_id: int) -> MovieRef | None:
        ref = self.catalog.get(movie_id)
        if ref is None and time.monotonic() - self._refreshed_at > CATALOG_RETRY_S:
            # An import added movies after the catalogue was read.
            self._refreshed_at = time.monotonic()
            self.catalog.refresh()
            ref = self.catalog.get(movie_id)
        return ref


class PopularityRecommender(ProfileRecommender):
    """The same interface as the model's recommender, without a model."""

    def __init__(
        self,
        db: Database,
        catalog: MovieCatalog,
        *,
        prior_count: float = DEFAULT_PRIOR_COUNT,
        ttl_s: float = 300.0,
        features_loader: Callable[[Database], ItemFeatures] = load_item_features,
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.prior_count = prior_count
        self.ttl_s = ttl_s
        self.lookup = MovieLookup(catalog)
        self._load_features = features_loader
        self._table: PopularityTable | None = None
        self._lock = threading.Lock()

    def table(self) -> PopularityTable:
        """The current table, rebuilt from the database at most every ``ttl_s`` seconds."""
        table = self._table
        if table is not None and time.monotonic() - table.features.loaded_at < self.ttl_s:
            return table
        with self._lock:
            table = self._table
            if table is None or time.monotonic() - table.features.loaded_at >= self.ttl_s:
                table = PopularityTable.build(self._load_features(self.db), self.prior_count)
                self._table = table
        return table

    def invalidate(self) -> None:
        self._table = None

    def popular(
        self, n: int = 10, filters: Filters | None = None, exclude: np.ndarray | None = None
    ) -> list[Recommendation]:
        check_count(n)
        excluded = np.empty(0, np.int64) if exclude is None else exclude
        filters = filters or Filters()
        extra = np.fromiter(filters.exclude, dtype=np.int64, count=len(filters.exclude))
        items = []
        for movie_id, score in self.table().top(n, filters, np.union1d(excluded, extra)):
            ref = self.lookup(movie_id)
            if ref is not None:
                items.append(Recommendation(ref, score, score, None))
        return items

    def for_profile(self, profile: UserProfile, n: int, filters: Filters) -> RecommendationList:
        items = self.popular(n, filters, profile.excluded())
        return RecommendationList(items, cold_start=not profile.has_ratings)

    def for_profiles(
        self, profiles: list[UserProfile], n: int, filters: Filters
    ) -> list[RecommendationList]:
        return [self.for_profile(p, n, filters) for p in profiles]
