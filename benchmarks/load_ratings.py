"""Reading all ratings into arrays: the ways one could, against ``load_ratings``.

Builds (once, then reuses) a migrated SQLite database with synthetic ratings
(default 5M ratings, 200,000 users, 50,000 movies; rows inserted with raw
``sqlite3.executemany``; ``updated_at`` as SQLAlchemy stores it, text
``YYYY-MM-DD HH:MM:SS.ffffff``), then times each method end to end, unix
seconds included, as the median of ``--repeat`` runs, and checks that every
method returns the same arrays. With ``--postgres URL`` (default: the local test
server, if it answers) the same rows go into a temporary schema and the
PostgreSQL paths are timed too.

    .venv/bin/python benchmarks/load_ratings.py [--ratings 5000000] [--repeat 3] [--no-postgres]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import create_engine, select, text

from nncf_core.db import migrate
from nncf_core.db.engine import Database, reachable
from nncf_core.db.models import Rating
from nncf_core.ml import data as data_module
from nncf_core.ml.data import RatingsData, load_ratings

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import synthetic_ratings

PG_SERVER = "postgresql+psycopg://root@127.0.0.1:5432/test"
CHUNK = 500_000


def timestamps_text(seconds: np.ndarray, micros: np.ndarray) -> list[str]:
    moments = seconds.astype("datetime64[s]").astype("datetime64[us]") + micros.astype(
        "timedelta64[us]"
    )
    return [s.replace("T", " ") for s in np.datetime_as_string(moments, unit="us").tolist()]


def ordered(data: RatingsData) -> tuple[RatingsData, np.ndarray]:
    """Rows in (user, movie) order, as an import would write them, and their microseconds."""
    order = np.lexsort((data.movie_ids, data.user_ids))
    micros = np.random.default_rng(1).integers(0, 1_000_000, data.n)
    return data.subset(order), micros


def rating_chunks(
    data: RatingsData, micros: np.ndarray, zone: str = ""
) -> Iterator[list[tuple[int, int, int, float, str, str]]]:
    """(id, user, movie, stars, created_at, updated_at) rows, CHUNK at a time; ``zone`` is
    appended to the timestamps (PostgreSQL's COPY wants the offset)."""
    for start in range(0, data.n, CHUNK):
        part = slice(start, start + CHUNK)
        stamps = [s + zone for s in timestamps_text(data.timestamps[part], micros[part])]
        yield list(
            zip(
                range(start + 1, start + CHUNK + 1),
                data.user_ids[part].tolist(),
                data.movie_ids[part].tolist(),
                data.stars[part].astype(float).tolist(),
                stamps,
                stamps,
                strict=False,
            )
        )


def build_sqlite(path: Path, data: RatingsData, micros: np.ndarray) -> None:
    if path.exists():
        with sqlite3.connect(path) as connection:
            (count,) = connection.execute("SELECT count(*) FROM ratings").fetchone()
        if count == data.n:
            return
        path.unlink()
    started = time.perf_counter()
    migrate.upgrade(f"sqlite:///{path}")
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA synchronous=OFF")
    users = np.unique(data.user_ids).tolist()
    movies = np.unique(data.movie_ids).tolist()
    with connection:
        connection.executemany(
            "INSERT INTO users (id, external_id, display_name, created_at) VALUES (?, ?, ?, ?)",
            ((u, f"movielens:{u}", None, "2020-01-01 00:00:00.000000") for u in users),
        )
        connection.executemany(
            "INSERT INTO movies (id, title, year, genres, title_normalized) VALUES (?, ?, ?, ?, ?)",
            ((m, f"Movie {m}", 2000, "Drama", f"movie {m}") for m in movies),
        )
    for rows in rating_chunks(data, micros):
        with connection:
            connection.executemany(
                "INSERT INTO ratings (id, user_id, movie_id, stars, created_at, updated_at, source)"
                " VALUES (?, ?, ?, ?, ?, ?, 'import')",
                rows,
            )
    connection.close()
    print(f"built {path} in {time.perf_counter() - started:.0f} s")


def to_unix(values: pd.Series) -> np.ndarray:
    moments = pd.to_datetime(values, utc=True, format="ISO8601")
    return ((moments - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy()


def from_frame(frame: pd.DataFrame, ts: np.ndarray | None = None) -> RatingsData:
    return RatingsData(
        frame.user_id.to_numpy(),
        frame.movie_id.to_numpy(),
        frame.stars.to_numpy(),
        frame.ts.to_numpy() if ts is None else ts,
    )


def pandas_orm(db: Database) -> RatingsData:
    query = select(Rating.user_id, Rating.movie_id, Rating.stars, Rating.updated_at).order_by(
        Rating.id
    )
    frame = pd.read_sql(query, db.engine)
    return from_frame(frame, to_unix(frame.updated_at))


def pandas_sqlite3(path: Path) -> RatingsData:
    with sqlite3.connect(path) as connection:
        return from_frame(pd.read_sql(data_module.SQLITE_QUERY, connection))


def sqlite3_fetchall(path: Path) -> RatingsData:
    with sqlite3.connect(path) as connection:
        rows = connection.execute(data_module.SQLITE_QUERY).fetchall()
    table = np.array(rows, dtype=np.float64)
    return RatingsData(table[:, 0], table[:, 1], table[:, 2], table[:, 3])


def adbc_query(path: Path, query: str) -> RatingsData:
    import adbc_driver_sqlite.dbapi as adbc

    with adbc.connect(str(path)) as connection, connection.cursor() as cursor:
        cursor.execute(query)
        return data_module._from_arrow(cursor.fetch_arrow_table())


def pg_adbc_sql(db: Database) -> RatingsData:
    """ADBC with the conversion and the ordering done by the server."""
    import adbc_driver_postgresql.dbapi as adbc

    uri = data_module.postgres_libpq_uri(db)
    with adbc.connect(uri) as connection, connection.cursor() as cursor:
        cursor.execute(data_module.POSTGRES_QUERY)
        return data_module._from_arrow(cursor.fetch_arrow_table())


def adbc_text_arrow(path: Path) -> RatingsData:
    """The text of ``updated_at`` shipped out, parsed by Arrow's vectorised strptime."""
    import adbc_driver_sqlite.dbapi as adbc
    import pyarrow as pa
    import pyarrow.compute as pc

    query = "SELECT user_id, movie_id, stars, updated_at FROM ratings ORDER BY id"
    with adbc.connect(str(path)) as connection, connection.cursor() as cursor:
        cursor.execute(query)
        table = cursor.fetch_arrow_table()
    whole = pc.utf8_slice_codeunits(table.column(3), 0, 19)
    parsed = pc.strptime(whole, format="%Y-%m-%d %H:%M:%S", unit="s")
    return data_module._from_arrow(table, parsed.cast(pa.int64()).to_numpy())


def adbc_two_threads(path: Path) -> RatingsData:
    """Two connections over halves of the id range, in threads."""
    with sqlite3.connect(path) as connection:
        (top,) = connection.execute("SELECT max(id) FROM ratings").fetchone()
    middle = top // 2
    base = data_module.SQLITE_QUERY.replace(" ORDER BY id", "")  # unixepoch()
    ranges = [f"{base} WHERE id <= {middle} ORDER BY id", f"{base} WHERE id > {middle} ORDER BY id"]
    parts: list[RatingsData] = [RatingsData.empty(), RatingsData.empty()]

    def run(k: int) -> None:
        parts[k] = adbc_query(path, ranges[k])

    threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return RatingsData(
        *(
            np.concatenate([getattr(p, f) for p in parts])
            for f in ("user_ids", "movie_ids", "stars", "timestamps")
        )
    )


def sqlite_scan(path: Path, expression: str) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute(
            f"SELECT sum(user_id), sum(movie_id), sum(stars), max({expression}) FROM ratings"
        ).fetchone()


def time_method(
    fn: Callable[[], RatingsData | None], repeat: int
) -> tuple[float, RatingsData | None]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def same(a: RatingsData, b: RatingsData) -> bool:
    return all(
        np.array_equal(getattr(a, f), getattr(b, f))
        for f in ("user_ids", "movie_ids", "stars", "timestamps")
    )


def report(title: str, methods: list[tuple[str, Callable[[], RatingsData | None], int]]) -> None:
    print(f"\n{title}")
    print(f"{'method':<48} {'median s':>9} {'x ours':>7}  same arrays")
    rows = []
    expected: RatingsData | None = None
    for name, fn, repeat in methods:
        seconds, result = time_method(fn, repeat)
        if name.startswith("load_ratings"):
            expected = result
        rows.append((name, seconds, result, repeat))
        print(f"  ... {name}: {seconds:.2f} s", flush=True)
    ours = next(s for n, s, _, _ in rows if n.startswith("load_ratings"))
    for name, seconds, result, repeat in rows:
        check = (
            "-"
            if result is None or expected is None
            else ("yes" if same(result, expected) else "NO")
        )
        print(f"{name:<48} {seconds:>9.2f} {seconds / ours:>6.2f}x  {check}  (n={repeat})")


def build_postgres(
    url: str, data: RatingsData, micros: np.ndarray
) -> tuple[str, Callable[[], None]]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    scoped = f"{url}?options=-csearch_path%3D{schema}"

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    started = time.perf_counter()
    migrate.upgrade(scoped)
    db = Database(scoped)
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        with cursor.copy("COPY users (id, external_id, created_at) FROM STDIN") as copy:
            for u in np.unique(data.user_ids).tolist():
                copy.write_row((u, f"movielens:{u}", "2020-01-01 00:00:00+00"))
        with cursor.copy(
            "COPY movies (id, title, year, genres, title_normalized) FROM STDIN"
        ) as copy:
            for m in np.unique(data.movie_ids).tolist():
                copy.write_row((m, f"Movie {m}", 2000, "Drama", f"movie {m}"))
        sql = (
            "COPY ratings (id, user_id, movie_id, stars, created_at, updated_at, source) FROM STDIN"
        )
        with cursor.copy(sql) as copy:
            for rows in rating_chunks(data, micros, zone="+00"):
                for row in rows:
                    copy.write_row((*row, "import"))
        raw.commit()
        cursor.execute("ANALYZE ratings")
        raw.commit()
    finally:
        raw.close()
        db.dispose()
    print(
        f"loaded {data.n} ratings into PostgreSQL schema {schema} in "
        f"{time.perf_counter() - started:.0f} s"
    )
    return scoped, drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratings", type=int, default=5_000_000)
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--movies", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--slow-repeat", type=int, default=1, help="runs of the ORM/pandas paths")
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--postgres", default=PG_SERVER)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    path = args.db or Path(tempfile.gettempdir()) / f"nncf-bench-ratings-{args.ratings}.sqlite3"
    data, micros = ordered(synthetic_ratings(args.ratings, args.users, args.movies))
    build_sqlite(path, data, micros)
    db = Database(f"sqlite:///{path}")
    r, s = args.repeat, args.slow_repeat
    strftime = "CAST(strftime('%s', updated_at) AS INTEGER)"
    report(
        f"SQLite, {args.ratings:,} ratings ({path})",
        [
            ("load_ratings (ADBC unixepoch, child process)", lambda: load_ratings(db), r),
            (
                "ADBC, strftime('%s') in SQL",
                lambda: adbc_query(path, data_module.SQLITE_LEGACY_QUERY),
                r,
            ),
            ("pandas read_sql, ORM select + to_datetime", lambda: pandas_orm(db), s),
            ("pandas read_sql, sqlite3 (3.40 rounds)", lambda: pandas_sqlite3(path), s),
            ("sqlite3 fetchall -> numpy (SQLite 3.40 rounds)", lambda: sqlite3_fetchall(path), s),
            (
                "ADBC, unixepoch() in SQL",
                lambda: adbc_query(path, data_module.SQLITE_QUERY),
                r,
            ),
            ("ADBC, text + Arrow strptime afterwards", lambda: adbc_text_arrow(path), r),
            ("ADBC x2 threads over id halves", lambda: adbc_two_threads(path), r),
            ("SQLite scan alone (no transfer)", lambda: sqlite_scan(path, "updated_at"), r),
            ("SQLite scan alone + strftime", lambda: sqlite_scan(path, strftime), r),
        ],
    )
    db.dispose()
    if args.no_postgres or not reachable(args.postgres):
        print("\nPostgreSQL: skipped")
        return
    url, drop = build_postgres(args.postgres, data, micros)
    pg = Database(url)
    try:
        report(
            f"PostgreSQL, {args.ratings:,} ratings",
            [
                ("load_ratings (ADBC, Arrow timestamps, no ORDER BY)", lambda: load_ratings(pg), r),
                ("ADBC, extract(epoch) + ORDER BY id in SQL", lambda: pg_adbc_sql(pg), r),
                (
                    "psycopg COPY binary -> numpy (fallback)",
                    lambda: data_module.load_postgres_copy(pg),
                    r,
                ),
                ("pandas read_sql, ORM select + to_datetime", lambda: pandas_orm(pg), s),
                (
                    "psycopg fetchall -> numpy",
                    lambda: data_module._load_dbapi(pg, data_module.POSTGRES_QUERY),
                    s,
                ),
            ],
        )
    finally:
        pg.dispose()
        drop()


if __name__ == "__main__":
    main()
