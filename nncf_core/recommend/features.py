"""Per-movie arrays the filters and the popularity list need, read from the database at once.

Genres become one bit each (a ``uint64`` per movie), so "any of these genres"
is one AND per candidate; years and rating counts are plain arrays. The
arrays are built once per model version (and per popularity refresh), so a
request never touches the database for them.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import func, select

from nncf_core.db.engine import Database
from nncf_core.db.models import Movie, Rating
from nncf_core.errors import InvalidInput
from nncf_core.recommend.base import Filters
from nncf_core.recommend.scoring import INT32_MAX, INT32_MIN, NO_YEAR, CandidateQuery

log = logging.getLogger(__name__)

MAX_GENRES = 64


def genre_key(name: str) -> str:
    """ "Sci-Fi", "sci fi" and "scifi" are the same genre to a filter."""
    return "".join(ch for ch in name.casefold() if ch.isalnum())


def split_genres(text: str | None) -> list[str]:
    # "(no genres listed)" is MovieLens' way of saying none.
    return [g for g in (text or "").split("|") if g and not g.startswith("(")]


@dataclass(frozen=True)
class ItemFeatures:
    """Arrays aligned with ``ids`` (sorted movie ids)."""

    ids: np.ndarray
    years: np.ndarray
    """int32, :data:`~nncf_core.recommend.scoring.NO_YEAR` when unknown."""
    genre_bits: np.ndarray
    """uint64, bit ``g`` for ``genre_names[g]``."""
    counts: np.ndarray
    """int32 ratings per movie; -1 for an id the database does not have."""
    sums: np.ndarray
    """float64 sum of the stars per movie."""
    genre_names: tuple[str, ...]
    loaded_at: float = field(default_factory=time.monotonic)

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def total_count(self) -> int:
        return int(np.maximum(self.counts, 0).sum())

    @property
    def global_mean(self) -> float | None:
        total = self.total_count
        return float(self.sums.sum() / total) if total else None

    def aligned(self, ids: np.ndarray) -> ItemFeatures:
        """The same features for another id array (a model's item vocabulary)."""
        wanted = np.asarray(ids, dtype=np.int64)
        if len(self.ids) == 0:
            found = np.zeros(len(wanted), dtype=bool)
            pos = np.zeros(len(wanted), dtype=np.int64)
        else:
            pos = np.minimum(np.searchsorted(self.ids, wanted), len(self.ids) - 1)
            found = self.ids[pos] == wanted

        def take(values: np.ndarray, missing: object) -> np.ndarray:
            if len(self.ids) == 0:
                return np.full(len(wanted), missing, dtype=values.dtype)
            return np.where(found, values[pos], missing).astype(values.dtype)

        return ItemFeatures(
            ids=wanted,
            years=take(self.years, NO_YEAR),
            genre_bits=take(self.genre_bits, 0),
            counts=take(self.counts, -1),
            sums=take(self.sums, 0.0),
            genre_names=self.genre_names,
            loaded_at=self.loaded_at,
        )

    def genre_mask(self, names: tuple[str, ...]) -> int:
        keys = {genre_key(g): bit for bit, g in enumerate(self.genre_names)}
        mask = 0
        for name in names:
            bit = keys.get(genre_key(name))
            if bit is None:
                known = ", ".join(self.genre_names) or "none yet"
                raise InvalidInput(f"Unknown genre {name[:40]!r}. Genres: {known}.")
            mask |= 1 << bit
        return mask

    def query(self, filters: Filters) -> CandidateQuery:
        """The kernels' form of ``filters`` over these items."""
        bounded = filters.year_from is not None or filters.year_to is not None
        return CandidateQuery(
            genre_bits=self.genre_bits,
            years=self.years,
            counts=self.counts,
            genre_mask=self.genre_mask(filters.genres),
            # With any bound set, movies of unknown year (NO_YEAR) must fail both ends.
            year_from=(
                filters.year_from if filters.year_from is not None else 0 if bounded else INT32_MIN
            ),
            year_to=filters.year_to if filters.year_to is not None else INT32_MAX,
            min_count=filters.min_ratings,
        )

    def rows(self, movie_ids: Iterable[int]) -> np.ndarray:
        """Rows of the given movie ids that are among ``ids`` (others dropped)."""
        wanted = np.fromiter(movie_ids, dtype=np.int64)
        if len(self.ids) == 0 or len(wanted) == 0:
            return np.empty(0, np.int64)
        pos = np.minimum(np.searchsorted(self.ids, wanted), len(self.ids) - 1)
        return pos[self.ids[pos] == wanted]


def load_item_features(db: Database) -> ItemFeatures:
    """Every movie with its year, genres, and rating count and sum, in one query."""
    started = time.perf_counter()
    stats = (
        select(
            Rating.movie_id.label("movie_id"),
            func.count().label("n"),
            func.sum(Rating.stars).label("total"),
        )
        .group_by(Rating.movie_id)
        .subquery()
    )
    query = (
        select(
            Movie.id,
            Movie.year,
            Movie.genres,
            func.coalesce(stats.c.n, 0),
            func.coalesce(stats.c.total, 0.0),
        )
        .outerjoin(stats, stats.c.movie_id == Movie.id)
        .order_by(Movie.id)
    )
    with db.engine.connect() as connection:
        rows = connection.execute(query).all()
    genre_lists = [split_genres(row[2]) for row in rows]
    frequency = Counter(g for genres in genre_lists for g in genres)
    if len(frequency) > MAX_GENRES:
        log.warning(
            "%d genres; only the %d most common can be filtered on", len(frequency), MAX_GENRES
        )
    names = tuple(sorted(g for g, _ in frequency.most_common(MAX_GENRES)))
    bit_of = {g: np.uint64(1) << np.uint64(i) for i, g in enumerate(names)}
    bits = np.zeros(len(rows), dtype=np.uint64)
    for i, genres in enumerate(genre_lists):
        for g in genres:
            if g in bit_of:
                bits[i] |= bit_of[g]
    features = ItemFeatures(
        ids=np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
        years=np.fromiter(
            (NO_YEAR if r[1] is None else r[1] for r in rows), dtype=np.int32, count=len(rows)
        ),
        genre_bits=bits,
        counts=np.fromiter((r[3] for r in rows), dtype=np.int32, count=len(rows)),
        sums=np.fromiter((r[4] for r in rows), dtype=np.float64, count=len(rows)),
        genre_names=names,
    )
    log.debug(
        "item features: %d movies, %d genres in %.3f s",
        len(features),
        len(names),
        time.perf_counter() - started,
    )
    return features
