"""Which rating lines an import keeps, and why it skips the others (vectorised)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from nncf_core.importers.files import RatingArrays

SKIP_USER = "invalid user id"
SKIP_STARS_RANGE = "stars out of range"
SKIP_STARS_STEP = "stars not in half steps"
SKIP_TIMESTAMP = "timestamp out of range"
SKIP_MOVIE = "unknown movie"
SKIP_DUPLICATE = "duplicate user and movie in the file (kept the latest)"
SKIP_NEWER_STORED = "a newer rating is already stored"

MAX_TIMESTAMP = 253_402_300_799
"""9999-12-31 23:59:59 UTC, the last second a four-digit year can show."""
MAX_USER_ID = 2**63 - 1


@dataclass(frozen=True)
class Selected(RatingArrays):
    """Kept ratings, one per (user, movie), sorted by MovieLens user id then movie id."""

    def users(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Distinct users (ascending), their number of ratings, and their first timestamp."""
        if self.n == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        starts = np.flatnonzero(np.r_[True, self.user[1:] != self.user[:-1]])
        counts = np.diff(np.r_[starts, self.n])
        return self.user[starts], counts, np.minimum.reduceat(self.timestamp, starts)


LOOKUP_TABLE_MAX_ID = 50_000_000
"""Up to this id, membership is a lookup in a boolean table (50 MB at most)."""


def known_mask(ids: np.ndarray, known: np.ndarray) -> np.ndarray:
    """``ids`` that are in the sorted array ``known``."""
    if len(known) == 0:
        return np.zeros(len(ids), dtype=bool)
    top = int(known[-1])
    if int(known[0]) >= 0 and top <= LOOKUP_TABLE_MAX_ID:
        table = np.zeros(top + 2, dtype=bool)
        table[known] = True
        # Ids outside 0..top land on the last entry, which is False.
        return table[np.where((ids >= 0) & (ids <= top), ids, top + 1)]
    at = np.searchsorted(known, ids)
    return known[np.minimum(at, len(known) - 1)] == ids


def select_ratings(raw: RatingArrays, known_movies: np.ndarray) -> tuple[Selected, Counter[str]]:
    """Drop invalid lines (each counted once, under its first reason) and duplicates.

    ``known_movies`` is the sorted array of movie ids the database will hold.
    """
    user, movie, stars, timestamp = raw.user, raw.movie, raw.stars, raw.timestamp
    with np.errstate(invalid="ignore"):
        doubled = stars * 2
        checks = (
            (SKIP_USER, user <= 0),
            (SKIP_STARS_RANGE, ~np.isfinite(stars) | (stars < 0.5) | (stars > 5.0)),
            (SKIP_STARS_STEP, doubled != np.round(doubled)),
            (SKIP_TIMESTAMP, (timestamp < 0) | (timestamp > MAX_TIMESTAMP)),
            (SKIP_MOVIE, ~known_mask(movie, known_movies)),
        )
    skipped: Counter[str] = Counter()
    keep = np.ones(raw.n, dtype=bool)
    for reason, bad in checks:
        hit = int(np.count_nonzero(bad & keep))
        if hit:
            skipped[reason] = hit
            keep &= ~bad
    if not keep.all():
        user, movie, stars, timestamp = user[keep], movie[keep], stars[keep], timestamp[keep]
    if not _strictly_sorted(user, movie):
        # Stable: equal (user, movie, timestamp) keep file order, so the last line wins.
        order = np.lexsort((timestamp, movie, user))
        user, movie, stars, timestamp = user[order], movie[order], stars[order], timestamp[order]
        last = np.r_[(user[1:] != user[:-1]) | (movie[1:] != movie[:-1]), True]
        duplicates = int(len(last) - np.count_nonzero(last))
        if duplicates:
            skipped[SKIP_DUPLICATE] = duplicates
            user, movie, stars, timestamp = user[last], movie[last], stars[last], timestamp[last]
    return Selected(user, movie, stars, timestamp), skipped


def _strictly_sorted(user: np.ndarray, movie: np.ndarray) -> bool:
    """GroupLens files are sorted by user then movie: then there is nothing to sort or merge."""
    if len(user) < 2:
        return True
    step = np.diff(user)
    return bool(np.all((step > 0) | ((step == 0) & (np.diff(movie) > 0))))
