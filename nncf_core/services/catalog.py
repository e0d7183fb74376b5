"""The movie catalogue in memory: title autocomplete and resolving typed titles.

Autocomplete must answer in well under 100 ms, so the titles live in plain
Python lists built once from the database (a few MB even for ml-32m's 87k
movies) and are refreshed when an import adds movies.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from sqlalchemy import func, select

from nncf_core.db.engine import Database
from nncf_core.db.models import Movie, Rating
from nncf_core.errors import AmbiguousMovie, InvalidInput, UnknownMovie
from nncf_core.titles import label, normalize, parse_query, without_article

log = logging.getLogger(__name__)

MAX_QUERY = 200


@dataclass(frozen=True, slots=True)
class MovieRef:
    id: int
    title: str
    year: int | None
    genres: tuple[str, ...]
    n_ratings: int

    @property
    def label(self) -> str:
        return label(self.title, self.year)


class _Index:
    """Immutable snapshot; swapped whole on refresh so readers never see half of one."""

    def __init__(self, movies: list[MovieRef], normalized: list[str]) -> None:
        self.movies = movies
        self.normalized = normalized
        self.bare = [without_article(n) for n in normalized]
        self.by_id = {m.id: i for i, m in enumerate(movies)}
        self.by_title: dict[str, list[int]] = {}
        for i, (full, bare) in enumerate(zip(normalized, self.bare, strict=True)):
            self.by_title.setdefault(full, []).append(i)
            if bare != full:
                self.by_title.setdefault(bare, []).append(i)
        genres: set[str] = set()
        for movie in movies:
            genres.update(movie.genres)
        self.genres = sorted(genres)


class MovieCatalog:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._index = _Index([], [])
        self._lock = threading.Lock()
        self.loaded = False

    def refresh(self) -> None:
        """Reload every movie (with its rating count, for ranking suggestions)."""
        counts = (
            select(Rating.movie_id, func.count().label("n")).group_by(Rating.movie_id).subquery()
        )
        query = (
            select(
                Movie.id,
                Movie.title,
                Movie.year,
                Movie.genres,
                Movie.title_normalized,
                func.coalesce(counts.c.n, 0),
            )
            .outerjoin(counts, counts.c.movie_id == Movie.id)
            .order_by(func.coalesce(counts.c.n, 0).desc(), Movie.id)
        )
        with self.db.engine.connect() as connection:
            rows = connection.execute(query).all()
        movies = [
            MovieRef(
                id=row[0],
                title=row[1],
                year=row[2],
                genres=tuple(g for g in (row[3] or "").split("|") if g and g[0] != "("),
                n_ratings=int(row[5]),
            )
            for row in rows
        ]
        index = _Index(movies, [row[4] for row in rows])
        with self._lock:
            self._index = index
            self.loaded = True
        log.info("movie catalogue loaded: %d movies", len(movies))

    def _ensure(self) -> _Index:
        if not self.loaded:
            self.refresh()
        return self._index

    def __len__(self) -> int:
        return len(self._ensure().movies)

    @property
    def genres(self) -> list[str]:
        return self._ensure().genres

    def get(self, movie_id: int) -> MovieRef | None:
        index = self._ensure()
        position = index.by_id.get(movie_id)
        return None if position is None else index.movies[position]

    def search(self, text: str, limit: int = 25) -> list[MovieRef]:
        """Titles starting with the text first, then containing it; popular first."""
        index = self._ensure()
        query = normalize(text[:MAX_QUERY])
        if not query:
            return index.movies[:limit]
        prefix: list[int] = []
        inside: list[int] = []
        # Movies are sorted by popularity, so a single pass keeps that order.
        for i, (full, bare) in enumerate(zip(index.normalized, index.bare, strict=True)):
            if full.startswith(query) or bare.startswith(query):
                prefix.append(i)
                if len(prefix) >= limit:
                    break
            elif len(inside) < limit and query in full:
                inside.append(i)
        chosen = (prefix + inside)[:limit]
        return [index.movies[i] for i in chosen]

    def autocomplete(self, text: str, limit: int = 25) -> list[tuple[str, str]]:
        """Discord-style choices: (``"Title (Year)"`` cut to 100 characters, id as text)."""
        return [(movie.label, str(movie.id)) for movie in self.search(text, limit)]

    def resolve(self, text: str) -> MovieRef:
        """A movie from an id (as autocomplete sends it) or a typed title, optionally with
        its year. Unknown or ambiguous titles raise with suggestions."""
        raw = text.strip()
        if not raw:
            raise InvalidInput("Give a movie title.")
        if len(raw) > MAX_QUERY:
            raise InvalidInput(f"A movie title can have at most {MAX_QUERY} characters.")
        index = self._ensure()
        if raw.isdigit() and len(raw) < 12:
            movie = self.get(int(raw))
            if movie is not None:
                return movie
        query, year = parse_query(raw)
        hits = index.by_title.get(query, []) or index.by_title.get(without_article(query), [])
        candidates = [index.movies[i] for i in dict.fromkeys(hits)]
        if year is not None:
            candidates = [m for m in candidates if m.year == year]
        if len(candidates) == 1:
            return candidates[0]
        if len(candidates) > 1:
            raise AmbiguousMovie(raw, [m.label for m in candidates])
        suggestions = [m.label for m in self.search(query, 3)] if query else []
        raise UnknownMovie(raw, suggestions)
