"""Rating, un-rating, listing, exporting and forgetting: the write path every front end uses."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from nncf_core.db.engine import Database
from nncf_core.db.models import FLAG_KINDS, RATING_SOURCES, Movie, MovieFlag, Rating, User, utcnow
from nncf_core.errors import InvalidInput, InvalidStars, NotRated, UnknownMovie
from nncf_core.services.catalog import MovieCatalog, MovieRef
from nncf_core.services.users import UserKey, find_user, get_or_create_user

MIN_STARS, MAX_STARS = 0.5, 5.0


def validate_stars(value: object) -> float:
    """Stars as a float in 0.5..5.0 on half steps, or :class:`InvalidStars`.

    Accepts numbers and numeric strings ("4.5", "4,5"); refuses NaN, infinities,
    booleans and anything between the half steps.
    """
    if isinstance(value, bool):
        raise InvalidStars(value)
    if isinstance(value, str):
        try:
            number = Decimal(value.strip().replace(",", "."))
        except InvalidOperation:
            raise InvalidStars(value) from None
        if not number.is_finite():
            raise InvalidStars(value)
        stars = float(number)
    elif isinstance(value, int | float | Decimal):
        stars = float(value)
    else:
        raise InvalidStars(value)
    if (
        not math.isfinite(stars)
        or not MIN_STARS <= stars <= MAX_STARS
        or stars * 2 != int(stars * 2)
    ):
        raise InvalidStars(value)
    return stars


@dataclass(frozen=True)
class RateResult:
    movie: MovieRef
    stars: float
    previous: float | None

    @property
    def changed(self) -> bool:
        return self.previous is not None and self.previous != self.stars


@dataclass(frozen=True)
class RatingRow:
    movie_id: int
    title: str
    year: int | None
    stars: float
    updated_at: datetime
    source: str


@dataclass(frozen=True)
class RatingsPage:
    items: list[RatingRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


@dataclass(frozen=True)
class MovieDetails:
    movie: MovieRef
    genres: tuple[str, ...]
    average: float | None
    count: int
    your_stars: float | None
    imdb_id: str | None
    tmdb_id: int | None


def _insert_for(session: Session):  # type: ignore[no-untyped-def]
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def upsert_rating(session: Session, user_id: int, movie_id: int, stars: float, source: str) -> None:
    """One row per (user, movie); concurrent upserts end with the last value."""
    now = utcnow()
    statement = _insert_for(session)(Rating).values(
        user_id=user_id,
        movie_id=movie_id,
        stars=stars,
        created_at=now,
        updated_at=now,
        source=source,
    )
    statement = statement.on_conflict_do_update(
        index_elements=[Rating.user_id, Rating.movie_id],
        set_={"stars": stars, "updated_at": now, "source": source},
    )
    session.execute(statement)


def _newest_first(user_id: int) -> Select[Any]:
    """The user's ratings joined with their movies, newest first (as RatingRow fields)."""
    return (
        select(
            Rating.movie_id, Movie.title, Movie.year, Rating.stars, Rating.updated_at, Rating.source
        )
        .join(Movie, Movie.id == Rating.movie_id)
        .where(Rating.user_id == user_id)
        .order_by(Rating.updated_at.desc(), Rating.id.desc())
    )


class RatingService:
    def __init__(self, db: Database, catalog: MovieCatalog) -> None:
        self.db = db
        self.catalog = catalog

    def rate(
        self, user: UserKey, movie: str | int | MovieRef, stars: object, source: str
    ) -> RateResult:
        """Store or update a rating. Validates everything before touching the database."""
        if source not in RATING_SOURCES:
            raise InvalidInput(f"Unknown rating source {source!r}.")
        value = validate_stars(stars)
        ref = self._movie(movie)

        def write(session: Session) -> float | None:
            row = get_or_create_user(session, user)
            previous = session.scalar(
                select(Rating.stars).where(Rating.user_id == row.id, Rating.movie_id == ref.id)
            )
            upsert_rating(session, row.id, ref.id, value, source)
            return previous

        previous = self.db.write(write)
        return RateResult(movie=ref, stars=value, previous=previous)

    def unrate(self, user: UserKey, movie: str | int | MovieRef) -> RateResult:
        ref = self._movie(movie)

        def write(session: Session) -> float:
            row = find_user(session, user)
            previous = None
            if row is not None:
                previous = session.scalar(
                    select(Rating.stars).where(Rating.user_id == row.id, Rating.movie_id == ref.id)
                )
            if row is None or previous is None:
                raise NotRated(ref.label)
            session.execute(
                delete(Rating).where(Rating.user_id == row.id, Rating.movie_id == ref.id)
            )
            return previous

        previous = self.db.write(write)
        return RateResult(movie=ref, stars=previous, previous=previous)

    def flag(self, user: UserKey, movie: str | int | MovieRef, kind: str) -> MovieRef:
        """Hide a movie from the user's recommendations ("not_interested" or "seen")."""
        if kind not in FLAG_KINDS:
            raise InvalidInput(f"Unknown flag {kind!r}.")
        ref = self._movie(movie)

        def write(session: Session) -> None:
            row = get_or_create_user(session, user)
            statement = _insert_for(session)(MovieFlag).values(
                user_id=row.id, movie_id=ref.id, kind=kind, created_at=utcnow()
            )
            session.execute(
                statement.on_conflict_do_update(
                    index_elements=[MovieFlag.user_id, MovieFlag.movie_id], set_={"kind": kind}
                )
            )

        self.db.write(write)
        return ref

    def list_ratings(self, user: UserKey, page: int = 1, per_page: int = 10) -> RatingsPage:
        """The user's ratings, newest first."""
        if page < 1:
            raise InvalidInput("Pages start at 1.")
        if not 1 <= per_page <= 100:
            raise InvalidInput("Between 1 and 100 ratings per page.")

        def read(session: Session) -> RatingsPage:
            row = find_user(session, user)
            if row is None:
                return RatingsPage([], 0, page, per_page)
            total = session.scalar(select(func.count()).where(Rating.user_id == row.id)) or 0
            rows = session.execute(
                _newest_first(row.id).limit(per_page).offset((page - 1) * per_page)
            ).all()
            return RatingsPage([RatingRow(*r) for r in rows], total, page, per_page)

        return self.db.read(read)

    def user_ratings(self, user: UserKey) -> dict[int, float]:
        """Every rating of the user as ``{movie_id: stars}``."""

        def read(session: Session) -> dict[int, float]:
            row = find_user(session, user)
            if row is None:
                return {}
            rows = session.execute(
                select(Rating.movie_id, Rating.stars).where(Rating.user_id == row.id)
            ).all()
            return {movie_id: stars for movie_id, stars in rows}

        return self.db.read(read)

    def hidden_movies(self, user: UserKey) -> set[int]:
        def read(session: Session) -> set[int]:
            row = find_user(session, user)
            if row is None:
                return set()
            return set(
                session.scalars(select(MovieFlag.movie_id).where(MovieFlag.user_id == row.id))
            )

        return self.db.read(read)

    def export_csv(self, user: UserKey) -> str:
        """The user's ratings as CSV: movie_id,title,year,stars,rated_at."""

        def read(session: Session) -> list[RatingRow]:
            row = find_user(session, user)
            if row is None:
                return []
            rows = session.execute(_newest_first(row.id)).all()
            return [RatingRow(*r) for r in rows]

        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["movie_id", "title", "year", "stars", "rated_at"])
        for r in self.db.read(read):
            writer.writerow([r.movie_id, r.title, r.year or "", r.stars, r.updated_at.isoformat()])
        return buffer.getvalue()

    def forget(self, user: UserKey) -> int:
        """Delete the user, their ratings and their flags. Returns the ratings deleted."""

        def write(session: Session) -> int:
            row = find_user(session, user)
            if row is None:
                return 0
            count = session.scalar(select(func.count()).where(Rating.user_id == row.id)) or 0
            session.execute(delete(Rating).where(Rating.user_id == row.id))
            session.execute(delete(MovieFlag).where(MovieFlag.user_id == row.id))
            session.execute(delete(User).where(User.id == row.id))
            return count

        return self.db.write(write)

    def details(self, movie: str | int | MovieRef, user: UserKey | None = None) -> MovieDetails:
        ref = self._movie(movie)

        def read(session: Session) -> MovieDetails:
            average, count = session.execute(
                select(func.avg(Rating.stars), func.count()).where(Rating.movie_id == ref.id)
            ).one()
            mine = None
            if user is not None:
                row = find_user(session, user)
                if row is not None:
                    mine = session.scalar(
                        select(Rating.stars).where(
                            Rating.user_id == row.id, Rating.movie_id == ref.id
                        )
                    )
            movie_row = session.get(Movie, ref.id)
            return MovieDetails(
                movie=ref,
                genres=ref.genres,
                average=float(average) if average is not None else None,
                count=int(count),
                your_stars=mine,
                imdb_id=movie_row.imdb_id if movie_row else None,
                tmdb_id=movie_row.tmdb_id if movie_row else None,
            )

        return self.db.read(read)

    def _movie(self, movie: str | int | MovieRef) -> MovieRef:
        if isinstance(movie, MovieRef):
            return movie
        if isinstance(movie, int):
            ref = self.catalog.get(movie)
            if ref is None:
                raise UnknownMovie(str(movie))
            return ref
        return self.catalog.resolve(movie)
