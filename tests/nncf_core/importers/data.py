"""Tiny MovieLens folders in GroupLens's three layouts, written into a test's tmp_path."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nncf_core.importers.files import ML100K_GENRES

LAYOUTS = ("csv", "dat", "ml-100k")


@dataclass(frozen=True)
class TinyMovie:
    id: int
    raw_title: str
    genres: str
    imdb: str
    tmdb: int | None


MOVIES = [
    TinyMovie(1, "Toy Story (1995)", "Adventure|Animation|Children|Comedy|Fantasy", "0114709", 862),
    TinyMovie(2, "Matrix, The (1999)", "Action|Sci-Fi|Thriller", "0133093", 603),
    TinyMovie(
        3, "Amélie (Fabuleux destin d'Amélie Poulain, Le) (2001)", "Comedy|Romance", "0211915", 194
    ),
    TinyMovie(4, "Unrated Film (2010)", "(no genres listed)", "1234567", None),
]

# (user, movie, stars, timestamp) in file order. User 3's two ratings of movie 1: the
# later one (3.0) comes first in the file and must win.
RATINGS = [
    (1, 1, 4.0, 964_982_703),
    (1, 2, 5.0, 964_981_247),
    (2, 2, 3.0, 1_445_714_835),
    (2, 3, 4.0, 1_445_714_900),
    (3, 1, 3.0, 1_100_000_500),
    (3, 1, 2.0, 1_100_000_000),
    (3, 9, 4.0, 1_100_000_000),  # no movie 9
    (3, 4, 6.0, 1_100_000_100),  # out of range
    (3, 2, 0.0, 1_100_000_200),  # out of range
]
# Half steps exist from ml-10m on; ml-100k has whole stars only.
HALF_STEP_RATINGS = [
    (2, 1, 3.5, 1_445_715_000),
    (2, 4, 3.3, 1_445_715_100),  # not a half step
]

EXPECTED_SKIPS = {"stars out of range": 2, "unknown movie": 1, "duplicate": 1}


def ratings_for(layout: str) -> list[tuple[int, int, float, int]]:
    return RATINGS + (HALF_STEP_RATINGS if layout != "ml-100k" else [])


def expected_ratings(layout: str) -> dict[tuple[int, int], tuple[float, int]]:
    """(MovieLens user, movie) -> (stars, timestamp) that an import keeps."""
    kept: dict[tuple[int, int], tuple[float, int]] = {}
    for user, movie, stars, ts in ratings_for(layout):
        valid = 0.5 <= stars <= 5.0 and stars * 2 == int(stars * 2)
        known = movie in {m.id for m in MOVIES}
        if valid and known and ((user, movie) not in kept or kept[(user, movie)][1] < ts):
            kept[(user, movie)] = (stars, ts)
    return kept


def _stars(value: float, layout: str) -> str:
    return str(int(value)) if layout == "ml-100k" else f"{value:.1f}"


def write_layout(
    folder: Path,
    layout: str,
    movies: list[TinyMovie] = MOVIES,
    ratings: list[tuple[int, int, float, int]] | None = None,
) -> Path:
    """Write a MovieLens folder; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = ratings_for(layout) if ratings is None else ratings
    if layout == "csv":
        movie_lines = ["movieId,title,genres"] + [
            f'{m.id},"{m.raw_title}",{m.genres}'
            if "," in m.raw_title
            else f"{m.id},{m.raw_title},{m.genres}"
            for m in movies
        ]
        (folder / "movies.csv").write_text("\n".join(movie_lines) + "\n", encoding="utf-8")
        link_lines = ["movieId,imdbId,tmdbId"] + [
            f"{m.id},{m.imdb},{'' if m.tmdb is None else m.tmdb}" for m in movies
        ]
        (folder / "links.csv").write_text("\n".join(link_lines) + "\n", encoding="utf-8")
        rating_lines = ["userId,movieId,rating,timestamp"] + [
            f"{u},{m},{_stars(s, layout)},{t}" for u, m, s, t in rows
        ]
        (folder / "ratings.csv").write_text("\n".join(rating_lines) + "\n", encoding="utf-8")
    elif layout == "dat":
        # ml-1m spells "Children's" as ml-100k does.
        old_genres = [m.genres.replace("Children", "Children's") for m in movies]
        movie_lines = [
            f"{m.id}::{m.raw_title}::{g}" for m, g in zip(movies, old_genres, strict=True)
        ]
        # ml-1m is Latin-1.
        (folder / "movies.dat").write_bytes(("\n".join(movie_lines) + "\n").encode("latin-1"))
        rating_lines = [f"{u}::{m}::{_stars(s, layout)}::{t}" for u, m, s, t in rows]
        (folder / "ratings.dat").write_text("\n".join(rating_lines) + "\n", encoding="ascii")
    else:
        item_lines = []
        for m in movies:
            genres = {"Children's" if g == "Children" else g for g in m.genres.split("|")}
            flags = ["1" if name in genres else "0" for name in ML100K_GENRES]
            if "1" not in flags:
                flags[0] = "1"  # "unknown"
            url = "http://us.imdb.com/M/title-exact?" + m.raw_title.replace(" ", "%20")
            item_lines.append("|".join([str(m.id), m.raw_title, "01-Jan-1995", "", url, *flags]))
        (folder / "u.item").write_bytes(("\n".join(item_lines) + "\n").encode("latin-1"))
        data_lines = [f"{u}\t{m}\t{_stars(s, layout)}\t{t}" for u, m, s, t in rows]
        (folder / "u.data").write_text("\n".join(data_lines) + "\n", encoding="ascii")
    return folder


def ratings_file(folder: Path, layout: str) -> Path:
    return folder / {"csv": "ratings.csv", "dat": "ratings.dat", "ml-100k": "u.data"}[layout]


def movies_file(folder: Path, layout: str) -> Path:
    return folder / {"csv": "movies.csv", "dat": "movies.dat", "ml-100k": "u.item"}[layout]
