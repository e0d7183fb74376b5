"""Writing an import in one transaction: movies, users, then the ratings in bulk.

Ratings never go through the ORM. They are staged in a table of their own (on SQLite an
attached scratch database that ADBC fills from Arrow arrays without Python objects per
row; on PostgreSQL a temporary table filled with ``COPY``), then moved with one
``INSERT ... SELECT`` in (user, movie) order, so the unique index is appended to instead
of updated at random places. When an import adds more rows than the table holds, the
non-unique indexes are dropped first and rebuilt after, from the definitions the
database itself reports (so they come back exactly as the migration made them).

On SQLite the datetimes are written as the text SQLAlchemy writes for these columns
(``YYYY-MM-DD HH:MM:SS.ffffff``, UTC), so that ORM reads and comparisons see imported
rows like any other; on PostgreSQL they are ``timestamptz`` values.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import Connection, bindparam, func, insert, select, text, update
from tqdm import tqdm

from nncf_core.db.engine import Database, retry_transient
from nncf_core.db.models import Movie, Rating, User
from nncf_core.importers.files import MovieFile, RatingArrays
from nncf_core.importers.selection import SKIP_NEWER_STORED, Selected, select_ratings

log = logging.getLogger(__name__)

MOVIES = Movie.__table__
USERS = User.__table__
RATINGS = Rating.__table__
MOVIE_FIELDS = ("title", "year", "genres", "title_normalized", "imdb_id", "tmdb_id")
LINK_FIELDS = ("imdb_id", "tmdb_id")
USER_PREFIX = "movielens:"
STAGE_TABLE = "nncf_import_ratings"
STAGE_SCHEMA = "nncf_stage"
SQLITE_IMPORT_CACHE_KIB = 2 * 1024 * 1024
SQLITE_SORT_CACHE_KIB = 2000
PG_INDEX_MEMORY = "256MB"
COPY_CHUNK = 8 * 1024 * 1024
WRITE_RETRY_BUDGET_S = 30.0


@dataclass
class WriteResult:
    movies_added: int = 0
    movies_updated: int = 0
    movies_unchanged: int = 0
    users_added: int = 0
    users_existing: int = 0
    ratings_added: int = 0
    ratings_updated: int = 0
    ratings_unchanged: int = 0
    ratings_skipped: Counter[str] = field(default_factory=Counter)


class Steps:
    """Named phases: a progress bar when asked for, and their timings in the debug log."""

    def __init__(self, names: tuple[str, ...], enabled: bool) -> None:
        self.bar = tqdm(total=len(names), unit="step", desc="import") if enabled else None

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        if self.bar is not None:
            self.bar.set_description(name)
        started, cpu = time.perf_counter(), time.process_time()
        yield
        log.debug(
            "import step %s: %.2f s (%.2f s CPU)",
            name,
            time.perf_counter() - started,
            time.process_time() - cpu,
        )
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


STEP_NAMES = ("movies", "checking ratings", "users", "staging ratings", "writing ratings")


def write_import(
    db: Database, movies: MovieFile, ratings: RatingArrays, *, progress: bool = False
) -> WriteResult:
    """Write the whole import in one transaction, retried as a whole if the database is busy."""
    steps = Steps(STEP_NAMES, progress)
    try:
        return retry_transient(
            lambda: _write_once(db, movies, ratings, steps), budget_s=WRITE_RETRY_BUDGET_S
        )
    finally:
        steps.close()


def _write_once(
    db: Database, movies: MovieFile, ratings: RatingArrays, steps: Steps
) -> WriteResult:
    result = WriteResult()
    with (
        tempfile.TemporaryDirectory(prefix="nncf-import-") as scratch,
        _transaction(db, Path(scratch)) as (connection, stage),
    ):
        with steps.step("movies"):
            known = _upsert_movies(connection, movies, result)
        with steps.step("checking ratings"):
            selected, skipped = select_ratings(ratings, known)
            result.ratings_skipped.update(skipped)
        with steps.step("users"):
            user_ids = _ensure_users(connection, selected, stage.time_suffix, result)
        with steps.step("staging ratings"):
            order = _db_order(user_ids)
            if selected.n:
                stage.load(connection, _stage_table(selected, user_ids, order, stage.time_suffix))
        with steps.step("writing ratings"):
            if selected.n:
                _write_ratings(connection, stage, selected.n, result)
    return result


# --- transaction and staging ----------------------------------------------------------------


class _SqliteStage:
    """A scratch database file attached to the importing connection, filled by ADBC."""

    name = f"{STAGE_SCHEMA}.{STAGE_TABLE}"
    order = "s.rowid"
    time_suffix = ".000000"
    index_query = (
        "SELECT m.name, m.sql FROM main.sqlite_master AS m "
        "JOIN pragma_index_list('ratings') AS i ON i.name = m.name "
        "WHERE m.type = 'index' AND i.origin = 'c' AND NOT i.\"unique\" ORDER BY 1"
    )
    """Name and ``CREATE INDEX`` statement of each non-unique index on ratings."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self, connection: Connection, table: pa.Table) -> None:
        # ADBC binds Arrow arrays in C: several times faster than executemany of tuples.
        # It writes a file of its own (not the database), so the import stays one transaction.
        import adbc_driver_sqlite.dbapi as adbc_sqlite

        with adbc_sqlite.connect(str(self.path)) as stage_connection:
            with stage_connection.cursor() as cursor:
                cursor.adbc_ingest(STAGE_TABLE, table, mode="replace")
            stage_connection.commit()

    def before_index_build(self, connection: Connection) -> None:
        # SQLite's sorter sorts runs as large as the page cache: with the big cache of the
        # load its runs outgrow the CPU caches and CREATE INDEX is 2-3x slower.
        connection.exec_driver_sql(f"PRAGMA main.cache_size=-{SQLITE_SORT_CACHE_KIB}")


class _PostgresStage:
    name = STAGE_TABLE
    order = "s.user_id, s.movie_id"
    time_suffix = "+00"
    index_query = (
        "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index AS i "
        "JOIN pg_class AS c ON c.oid = i.indexrelid "
        "WHERE i.indrelid = 'ratings'::regclass AND NOT i.indisunique ORDER BY 1"
    )

    def load(self, connection: Connection, table: pa.Table) -> None:
        connection.exec_driver_sql(
            f"CREATE TEMP TABLE {STAGE_TABLE} (user_id integer NOT NULL, movie_id integer NOT "
            "NULL, stars double precision NOT NULL, rated_at timestamptz NOT NULL) ON COMMIT DROP"
        )
        sink = pa.BufferOutputStream()
        options = pacsv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none")
        pacsv.write_csv(table, sink, options)
        data = memoryview(sink.getvalue())
        raw: Any = connection.connection.driver_connection
        columns = ", ".join(table.column_names)
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY {STAGE_TABLE} ({columns}) FROM STDIN") as copy,
        ):
            for start in range(0, len(data), COPY_CHUNK):
                copy.write(data[start : start + COPY_CHUNK])
        connection.exec_driver_sql(f"ANALYZE {STAGE_TABLE}")

    def before_index_build(self, connection: Connection) -> None:
        connection.exec_driver_sql(f"SET LOCAL maintenance_work_mem = '{PG_INDEX_MEMORY}'")


_Stage = _SqliteStage | _PostgresStage


@contextmanager
def _transaction(db: Database, scratch: Path) -> Iterator[tuple[Connection, _Stage]]:
    if not db.is_sqlite:
        with db.engine.begin() as connection:
            yield connection, _PostgresStage()
        return
    stage = _SqliteStage(scratch / "stage.sqlite3")
    with db.engine.connect() as connection:
        # ATTACH and these pragmas are refused or ignored inside a transaction: they come first.
        connection.exec_driver_sql(f"ATTACH DATABASE ? AS {STAGE_SCHEMA}", (str(stage.path),))
        saved = _set_pragmas(connection, _bulk_pragmas())
        try:
            # Not BEGIN IMMEDIATE: that would lock the scratch file too and keep ADBC out.
            # The no-op write takes the database's write lock now, before anything is read,
            # so no other writer can slip in between this import's reads and its writes.
            connection.exec_driver_sql("BEGIN")
            connection.exec_driver_sql("UPDATE main.ratings SET id = id WHERE 0")
            yield connection, stage
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
        finally:
            _restore(connection, saved)


def _restore(connection: Connection, saved: dict[str, int]) -> None:
    """Undo the import's connection settings, or retire the connection if that fails."""
    try:
        _set_pragmas(connection, saved)
        connection.exec_driver_sql(f"DETACH DATABASE {STAGE_SCHEMA}")
        connection.commit()
    except Exception:
        # A pooled connection without foreign keys must never serve anyone else.
        log.warning("could not restore the importing connection; discarding it", exc_info=True)
        connection.invalidate()


def _bulk_pragmas() -> dict[str, int]:
    """Connection settings for the load, restored afterwards.

    Foreign keys and CHECK constraints are not evaluated row by row (together about
    60% of the insert's time) because the rows satisfy them by construction: every
    user and movie id comes from rows this transaction wrote or read while holding the
    write lock, and :func:`select_ratings` applied the same half-step rule to the stars.
    A large page cache keeps the new pages in memory until commit.
    """
    try:
        memory_kib = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 1024
    except (ValueError, OSError, AttributeError):
        memory_kib = 4 * SQLITE_IMPORT_CACHE_KIB
    return {
        "foreign_keys": 0,
        "ignore_check_constraints": 1,
        "cache_size": -min(SQLITE_IMPORT_CACHE_KIB, memory_kib // 4),
    }


def _set_pragmas(connection: Connection, values: dict[str, int]) -> dict[str, int]:
    """Set ``values``; the previous values."""
    old = {}
    for name, value in values.items():
        old[name] = int(connection.exec_driver_sql(f"PRAGMA main.{name}").scalar() or 0)
        connection.exec_driver_sql(f"PRAGMA main.{name}={int(value)}")
    return old


def utc_text(timestamps: np.ndarray, suffix: str = "") -> pa.Array:
    """Unix seconds as ``YYYY-MM-DD HH:MM:SS`` + ``suffix`` in UTC, built without Python objects.

    Dates and times of day come from two small tables (the days, the 86,400 seconds of a
    day) gathered into one fixed-width byte buffer.
    """
    n = len(timestamps)
    if n == 0:
        return pa.array([], type=pa.large_string())
    days, seconds = np.divmod(timestamps.astype(np.int64), 86_400)
    first, last = int(days.min()), int(days.max())
    if last - first >= max(n, 1 << 16):
        # A few far-apart dates: a table of the distinct days instead of every day between.
        distinct, day_index = np.unique(days, return_inverse=True)
    else:
        distinct, day_index = np.arange(first, last + 1), days - first
    day_text = np.datetime_as_string(distinct.astype("M8[D]"))
    day_bytes = day_text.astype("S10").view(np.uint8).reshape(-1, 10)
    second = np.arange(86_400)
    clock = np.stack([second // 3600, second // 60 % 60, second % 60], axis=1)
    time_bytes = np.empty((86_400, 8), dtype=np.uint8)
    time_bytes[:, [0, 3, 6]] = clock // 10 + ord("0")
    time_bytes[:, [1, 4, 7]] = clock % 10 + ord("0")
    time_bytes[:, [2, 5]] = ord(":")
    tail = np.frombuffer(suffix.encode("ascii"), dtype=np.uint8)
    width = 19 + len(tail)
    out = np.empty((n, width), dtype=np.uint8)
    out[:, :10] = day_bytes[day_index]
    out[:, 10] = ord(" ")
    out[:, 11:19] = time_bytes[seconds]
    out[:, 19:] = tail
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(out.reshape(-1)))


def _stage_table(
    selected: Selected, user_ids: np.ndarray, order: np.ndarray | None, suffix: str
) -> pa.Table:
    columns = {
        "user_id": user_ids,
        "movie_id": selected.movie,
        "stars": np.asarray(selected.stars, dtype=np.float64),
        "timestamp": selected.timestamp,
    }
    if order is not None:
        columns = {name: values[order] for name, values in columns.items()}
    rated_at = utc_text(columns.pop("timestamp"), suffix)
    return pa.table(
        {**{name: pa.array(values) for name, values in columns.items()}, "rated_at": rated_at}
    )


def _db_order(user_ids: np.ndarray) -> np.ndarray | None:
    """Rows are in MovieLens user order; the database ids of earlier imports may differ."""
    if len(user_ids) < 2 or bool(np.all(np.diff(user_ids) >= 0)):
        return None
    return np.argsort(user_ids, kind="stable")


# --- movies and users -----------------------------------------------------------------------


def _upsert_movies(connection: Connection, parsed: MovieFile, result: WriteResult) -> np.ndarray:
    """Insert new movies, update changed ones; the sorted ids the database then holds."""
    columns = [MOVIES.c[name] for name in MOVIE_FIELDS]
    existing = {row[0]: tuple(row[1:]) for row in connection.execute(select(MOVIES.c.id, *columns))}
    added: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    n_links = len(LINK_FIELDS)
    for movie in parsed.movies:
        values = tuple(getattr(movie, name) for name in MOVIE_FIELDS)
        old = existing.get(movie.id)
        if old is None:
            added.append({"id": movie.id, **dict(zip(MOVIE_FIELDS, values, strict=True))})
            continue
        if not parsed.has_links:
            # Without links.csv the file says nothing about imdb/tmdb ids: keep the stored ones.
            values = values[:-n_links] + old[-n_links:]
        if values != old:
            new_values = zip(MOVIE_FIELDS, values, strict=True)
            changed.append({"movie_id": movie.id, **{f"new_{n}": v for n, v in new_values}})
    if added:
        connection.execute(insert(MOVIES), added)
    if changed:
        statement = (
            update(MOVIES)
            .where(MOVIES.c.id == bindparam("movie_id"))
            .values({name: bindparam(f"new_{name}") for name in MOVIE_FIELDS})
        )
        connection.execute(statement, changed)
    result.movies_added = len(added)
    result.movies_updated = len(changed)
    result.movies_unchanged = len(parsed.movies) - len(added) - len(changed)
    ids = chain(existing, (movie.id for movie in parsed.movies))
    return np.unique(np.fromiter(ids, dtype=np.int64))


def _movielens_users(connection: Connection) -> dict[int, int]:
    query = select(USERS.c.external_id, USERS.c.id).where(
        USERS.c.external_id.like(f"{USER_PREFIX}%")
    )
    users: dict[int, int] = {}
    for external_id, user_id in connection.execute(query):
        rest = external_id[len(USER_PREFIX) :]
        if rest.isascii() and rest.isdigit():
            users[int(rest)] = user_id
    return users


def _ensure_users(
    connection: Connection, selected: Selected, time_suffix: str, result: WriteResult
) -> np.ndarray:
    """The database user id of each kept rating, creating ``movielens:<id>`` users as needed.

    A new user's ``created_at`` is the time of their first rating.
    """
    movielens_ids, counts, first_seen = selected.users()
    known = _movielens_users(connection)
    new = ~np.isin(movielens_ids, np.fromiter(known, dtype=np.int64, count=len(known)))
    if new.any():
        created = utc_text(first_seen[new], time_suffix).to_pylist()
        rows = [
            (f"{USER_PREFIX}{movielens_id}", at)
            for movielens_id, at in zip(movielens_ids[new].tolist(), created, strict=True)
        ]
        # Raw executemany of tuples: a third of the time of an ORM-typed insert, and the
        # datetime text is the one the ratings get (what SQLAlchemy writes on SQLite).
        marks = "?, ?" if connection.dialect.paramstyle == "qmark" else "%s, %s"
        connection.exec_driver_sql(
            f"INSERT INTO users (external_id, created_at) VALUES ({marks})", rows
        )
        known = _movielens_users(connection)
    result.users_added = int(new.sum())
    result.users_existing = len(movielens_ids) - result.users_added
    per_user = np.fromiter((known[i] for i in movielens_ids.tolist()), dtype=np.int64)
    return np.repeat(per_user, counts)


# --- ratings --------------------------------------------------------------------------------

_CLASSIFY = """
SELECT COUNT(r.id),
       COALESCE(SUM(CASE WHEN r.stars = s.stars AND r.updated_at = s.rated_at
                         THEN 1 ELSE 0 END), 0),
       COALESCE(SUM(CASE WHEN r.updated_at > s.rated_at THEN 1 ELSE 0 END), 0)
FROM {stage} AS s
LEFT JOIN ratings AS r ON r.user_id = s.user_id AND r.movie_id = s.movie_id
"""
_INSERT = """
INSERT INTO ratings (user_id, movie_id, stars, created_at, updated_at, source)
SELECT s.user_id, s.movie_id, s.stars, s.rated_at, s.rated_at, 'import' FROM {stage} AS s
WHERE true ORDER BY {order}
"""
# An older line in the file never overwrites a newer rating (made in the bot, say).
_UPSERT = (
    _INSERT
    + """
ON CONFLICT (user_id, movie_id) DO UPDATE
SET stars = excluded.stars, updated_at = excluded.updated_at, source = excluded.source
WHERE ratings.updated_at <= excluded.updated_at
  AND (ratings.stars <> excluded.stars OR ratings.updated_at <> excluded.updated_at)
"""
)


def _write_ratings(connection: Connection, stage: _Stage, n: int, result: WriteResult) -> None:
    existing = int(connection.scalar(select(func.count()).select_from(RATINGS)) or 0)
    matched = same = newer = 0
    if existing:
        row = connection.execute(text(_CLASSIFY.format(stage=stage.name))).one()
        matched, same, newer = (int(value) for value in row)
    result.ratings_added = n - matched
    result.ratings_updated = matched - same - newer
    result.ratings_unchanged = same
    if newer:
        result.ratings_skipped[SKIP_NEWER_STORED] += newer
    if not (result.ratings_added or result.ratings_updated):
        return
    statement = (_UPSERT if existing else _INSERT).format(stage=stage.name, order=stage.order)
    # Building an index after the load is several times cheaper than updating it row by
    # row; on PostgreSQL this locks the ratings table until the import commits.
    indexes = (
        list(connection.exec_driver_sql(stage.index_query))
        if result.ratings_added > existing
        else []
    )
    for name, _definition in indexes:
        connection.exec_driver_sql(f'DROP INDEX "{name}"')
    _timed(connection, statement)
    if indexes:
        stage.before_index_build(connection)
    for _name, definition in indexes:
        _timed(connection, definition)


def _timed(connection: Connection, statement: str) -> None:
    started, cpu = time.perf_counter(), time.process_time()
    connection.exec_driver_sql(statement)
    log.debug(
        "%.2f s (%.2f s CPU): %s",
        time.perf_counter() - started,
        time.process_time() - cpu,
        " ".join(statement.split())[:80],
    )
