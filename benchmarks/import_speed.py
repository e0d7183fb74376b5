"""MovieLens import speed on SQLite: a synthetic ml-25m-style folder, imported three ways.

    .venv/bin/python benchmarks/import_speed.py --rows 5000000 --repeat 3

Generates ratings.csv (unique (user, movie) pairs, power-law movie popularity and user
activity, GroupLens's sort order), movies.csv and links.csv in a temporary folder, then
for each repeat: imports into an empty, migrated SQLite database; re-imports the same
folder (everything unchanged); and imports a copy in which a fraction of the ratings has
new stars and a later timestamp (updates). Prints rows, seconds and rows/s per pass and
their medians over the repeats.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nncf_core.db import migrate  # noqa: E402
from nncf_core.db.engine import Database  # noqa: E402
from nncf_core.importers.movielens import import_movielens  # noqa: E402

HALF_STARS = np.arange(1, 11) / 2
# Share of each half step in ml-25m (0.5 ... 5.0).
STAR_SHARES = np.array([1.6, 3.1, 1.6, 6.6, 5.0, 19.6, 12.6, 26.6, 8.5, 14.5])
FIRST_TS, LAST_TS = 789_652_009, 1_574_327_703  # ml-25m's range
GENRES = ["Action", "Comedy", "Drama", "Romance", "Sci-Fi", "Thriller", "Horror", "Children"]


def power_law(n: int, exponent: float, offset: float, rng: np.random.Generator) -> np.ndarray:
    """Zipf-like probabilities ``(rank + offset)^-exponent`` over n items in random order."""
    weights = (np.arange(n) + offset) ** -exponent
    return rng.permutation(weights / weights.sum())


def distinct_sorted(values: np.ndarray) -> np.ndarray:
    # Sort-based: numpy's hash-based np.unique is several times slower on millions of ints.
    ordered = np.sort(values)
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]]


def generate(folder: Path, rows: int, users: int, movies: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    movie_ids = np.sort(rng.choice(movies * 3, size=movies, replace=False) + 1)
    movie_cdf = np.cumsum(power_law(movies, 1.0, 10.0, rng))
    user_cdf = np.cumsum(power_law(users, 0.8, 50.0, rng))
    keys = np.zeros(0, dtype=np.int64)
    while len(keys) < rows:
        # Pairs drawn twice are merged, so draw a little more than needed, then trim.
        draws = int((rows - len(keys)) * 1.2) + 1000
        user = np.searchsorted(user_cdf, rng.random(draws) * user_cdf[-1])
        movie = np.searchsorted(movie_cdf, rng.random(draws) * movie_cdf[-1])
        keys = distinct_sorted(np.concatenate([keys, user.astype(np.int64) * movies + movie]))
    keys = np.sort(keys[rng.permutation(len(keys))[:rows]])
    user, movie = np.divmod(keys, movies)
    star_cdf = np.cumsum(STAR_SHARES / STAR_SHARES.sum())
    stars = HALF_STARS[np.searchsorted(star_cdf, rng.random(rows) * star_cdf[-1])]
    timestamp = rng.integers(FIRST_TS, LAST_TS, size=rows)
    write_ratings(folder / "ratings.csv", user + 1, movie_ids[movie], stars, timestamp)
    years = rng.integers(1920, 2020, size=movies)
    masks = rng.integers(1, 2 ** len(GENRES), size=movies)
    combos = [
        "|".join(g for bit, g in enumerate(GENRES) if m >> bit & 1) for m in range(2 ** len(GENRES))
    ]
    genres = [combos[m] for m in masks.tolist()]
    titles = [f"Movie {i} ({y})" for i, y in zip(movie_ids.tolist(), years.tolist(), strict=True)]
    write_csv(folder / "movies.csv", {"movieId": movie_ids, "title": titles, "genres": genres})
    imdb = [f"{i:07d}" for i in rng.integers(1, 9_999_999, size=movies).tolist()]
    tmdb = rng.integers(1, 900_000, size=movies)
    write_csv(folder / "links.csv", {"movieId": movie_ids, "imdbId": imdb, "tmdbId": tmdb})


def write_ratings(path: Path, user, movie, stars, timestamp) -> None:  # type: ignore[no-untyped-def]
    columns = {"userId": user, "movieId": movie, "rating": stars, "timestamp": timestamp}
    write_csv(path, columns)


def write_csv(path: Path, columns: dict[str, object]) -> None:
    table = pa.table(columns)
    with path.open("wb") as out:
        out.write((",".join(columns) + "\n").encode())
        pacsv.write_csv(table, out, pacsv.WriteOptions(include_header=False))


def changed_copy(source: Path, dest: Path, fraction: float, seed: int) -> int:
    """``dest``: ``source`` with ``fraction`` of the ratings re-rated one second later."""
    dest.mkdir()
    for name in ("movies.csv", "links.csv"):
        shutil.copy(source / name, dest / name)
    table = pacsv.read_csv(source / "ratings.csv")
    rng = np.random.default_rng(seed)
    stars = table.column("rating").to_numpy().copy()
    timestamp = table.column("timestamp").to_numpy().copy()
    pick = rng.random(len(stars)) < fraction
    stars[pick] = np.where(stars[pick] >= 3.0, stars[pick] - 0.5, stars[pick] + 0.5)
    timestamp[pick] += 1
    user, movie = table.column("userId").to_numpy(), table.column("movieId").to_numpy()
    write_ratings(dest / "ratings.csv", user, movie, stars, timestamp)
    return int(pick.sum())


@dataclass(frozen=True)
class Pass:
    seconds: float
    cpu_seconds: float
    """Of this process, all threads (the machine may be shared: compare with seconds)."""
    rows: int
    added: int
    updated: int


def timed_import(db: Database, folder: Path) -> Pass:
    started, cpu = time.perf_counter(), time.process_time()
    summary = import_movielens(db, folder)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    return Pass(
        seconds, cpu_seconds, summary.lines_read, summary.ratings_added, summary.ratings_updated
    )


WIDTHS = (26, 11, 11, 10, 9, 10, 8, 12)


def print_row(cells: tuple[str, ...]) -> None:
    name, *numbers = cells
    print(
        f"{name:<{WIDTHS[0]}}"
        + "".join(f"{c:>{w}}" for c, w in zip(numbers, WIDTHS[1:], strict=True))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000, help="rating lines to generate")
    parser.add_argument("--users", type=int, default=160_000)
    parser.add_argument("--movies", type=int, default=60_000)
    parser.add_argument("--repeat", type=int, default=1, help="fresh databases to import into")
    parser.add_argument("--changed", type=float, default=0.1, help="share re-rated in pass 3")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temp folder")
    parser.add_argument("--debug", action="store_true", help="log the importer's step timings")
    args = parser.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING)
    for noisy in ("sqlalchemy", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    with tempfile.TemporaryDirectory(prefix="nncf-bench-", dir=args.workdir) as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        data = work / "ml-synthetic"
        data.mkdir()
        generate(data, args.rows, args.users, args.movies, args.seed)
        n_changed = changed_copy(data, work / "ml-synthetic-changed", args.changed, args.seed)
        size = (data / "ratings.csv").stat().st_size / 1e6
        print(
            f"generated {args.rows:,} ratings ({size:.0f} MB), {args.movies:,} movies, "
            f"{n_changed:,} changed in the copy, in {time.perf_counter() - started:.1f} s"
        )
        template = work / "template.sqlite3"
        migrate.upgrade(f"sqlite:///{template}")
        passes = {
            "import into empty db": data,
            "re-import, unchanged": data,
            f"re-import, {args.changed:.0%} changed": work / "ml-synthetic-changed",
        }
        results: dict[str, list[Pass]] = {name: [] for name in passes}
        load_before = os.getloadavg()[0]
        for run in range(args.repeat):
            path = work / f"run{run}.sqlite3"
            shutil.copy(template, path)
            db = Database(f"sqlite:///{path}")
            for name, folder in passes.items():
                results[name].append(timed_import(db, folder))
            db.dispose()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        load_after = os.getloadavg()[0]

    print(f"\n{os.cpu_count()} CPUs; load average {load_before:.1f} before, {load_after:.1f} after")
    print_row(("pass", "rows", "added", "updated", "seconds", "rows/s", "CPU s", "rows/CPU s"))
    for name, runs in results.items():
        seconds = statistics.median(r.seconds for r in runs)
        cpu = statistics.median(r.cpu_seconds for r in runs)
        first = runs[0]
        cells = (
            name,
            f"{first.rows:,}",
            f"{first.added:,}",
            f"{first.updated:,}",
            f"{seconds:.2f}",
            f"{first.rows / seconds:,.0f}",
            f"{cpu:.2f}",
            f"{first.rows / cpu:,.0f}",
        )
        print_row(cells)
    if args.repeat > 1:
        print(f"\nmedians of {args.repeat} runs; each run's seconds:")
        for name, runs in results.items():
            print(f"  {name:<26}" + "  ".join(f"{r.seconds:.2f}" for r in runs))
    baseline = statistics.median(r.seconds for r in results["import into empty db"])
    print()
    for name, runs in list(results.items())[1:]:
        ratio = statistics.median(r.seconds for r in runs) / baseline
        print(f"{name}: {ratio:.2f}x the time of the first import")


if __name__ == "__main__":
    main()
