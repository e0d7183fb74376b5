"""What every recommender takes and returns: filters, recommendations, the result list."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from nncf_core.db.engine import Database
from nncf_core.errors import InvalidInput
from nncf_core.recommend.profiles import UserProfile, load_profiles
from nncf_core.services.catalog import MovieRef
from nncf_core.services.users import UserKey

DEFAULT_MIN_RATINGS = 10
"""So that one lucky 5-star rating does not put an obscure film at the top."""
MAX_RESULTS = 100


@dataclass(frozen=True)
class Filters:
    """Which movies may be recommended. The user's rated and hidden movies never are."""

    genres: tuple[str, ...] = ()
    """Any of these genres (case and punctuation do not matter: "scifi" is "Sci-Fi")."""
    year_from: int | None = None
    year_to: int | None = None
    min_ratings: int = DEFAULT_MIN_RATINGS
    """Movies with fewer ratings in the database are left out."""
    exclude: frozenset[int] = field(default_factory=frozenset)
    """More movie ids to leave out."""

    def __post_init__(self) -> None:
        if isinstance(self.genres, str):
            object.__setattr__(self, "genres", (self.genres,))
        if self.min_ratings < 0:
            raise InvalidInput("The minimum number of ratings cannot be negative.")
        if (
            self.year_from is not None
            and self.year_to is not None
            and self.year_from > self.year_to
        ):
            raise InvalidInput(
                f"The year range {self.year_from}-{self.year_to} is empty; swap the years."
            )
        object.__setattr__(self, "exclude", frozenset(int(m) for m in self.exclude))


def check_count(n: int) -> int:
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_RESULTS:
        raise InvalidInput(f"Ask for between 1 and {MAX_RESULTS} recommendations.")
    return n


@dataclass(frozen=True)
class Recommendation:
    movie: MovieRef
    predicted_stars: float
    """The rating model's prediction, clamped to the rating scale."""
    score: float
    """What the list is sorted by (the ranker's score; may differ from the stars)."""
    because: MovieRef | None = None
    """The user's own highly rated movie closest to this one, if any."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "movie_id": self.movie.id,
            "title": self.movie.title,
            "year": self.movie.year,
            "predicted_stars": round(self.predicted_stars, 3),
            "because": self.because.label if self.because is not None else None,
        }


@dataclass(frozen=True)
class RecommendationList:
    items: list[Recommendation]
    cold_start: bool = False
    """The user has no ratings: these are popular picks, and they should rate a few."""
    model_version_id: int | None = None
    """The model version that ranked them; None for the popularity list."""
    folded_in: bool = False
    """The user's vector was fitted just now from their current ratings."""

    def __len__(self) -> int:
        return len(self.items)

    def as_dicts(self) -> list[dict[str, Any]]:
        return [item.as_dict() for item in self.items]


class ProfileRecommender(ABC):
    """A recommender that answers from users' current profiles (ratings and flags)."""

    db: Database

    def recommend(
        self, user: UserKey, n: int = 10, filters: Filters | None = None
    ) -> RecommendationList:
        """Movies ``user`` has not rated or hidden, best first, with predicted stars."""
        return self.recommend_many([user], n, filters)[0]

    def recommend_many(
        self, users: Sequence[UserKey], n: int = 10, filters: Filters | None = None
    ) -> list[RecommendationList]:
        """:meth:`recommend` for many users, from one read of their profiles."""
        check_count(n)
        return self.for_profiles(load_profiles(self.db, list(users)), n, filters or Filters())

    @abstractmethod
    def for_profiles(
        self, profiles: list[UserProfile], n: int, filters: Filters
    ) -> list[RecommendationList]:
        """One list per profile, in order."""


class RecommenderLike(Protocol):
    """What the CLI, the console and the bot call; every recommender implements it."""

    def recommend(
        self, user: UserKey, n: int = 10, filters: Filters | None = None
    ) -> RecommendationList: ...

    def recommend_many(
        self, users: Sequence[UserKey], n: int = 10, filters: Filters | None = None
    ) -> list[RecommendationList]: ...
