"""Ratings straight from the database into numpy arrays, by the fastest measured path.

No ORM objects and no per-row Python: on SQLite the ADBC driver streams Arrow
columns (``benchmarks/load_ratings.py`` measures it against pandas and plain
``sqlite3``); on PostgreSQL the ADBC driver (binary COPY underneath), or psycopg's
binary ``COPY ... TO STDOUT`` parsed with one numpy structured dtype. ``updated_at``
becomes unix seconds inside the SQL, where it is cheapest.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy.engine import make_url

from nncf_core.db.engine import Database

log = logging.getLogger(__name__)

# Ordered by id so that the same table always gives the same arrays (the
# trainer's seed then reproduces a run); on SQLite the rowid order is free.
SQLITE_QUERY = (
    "SELECT user_id, movie_id, stars, CAST(strftime('%s', updated_at) AS INTEGER) AS ts "
    "FROM ratings ORDER BY id"
)
POSTGRES_QUERY = (
    "SELECT user_id::int8, movie_id::int8, stars::float4, "
    "floor(extract(epoch FROM updated_at))::int8 AS ts FROM ratings ORDER BY id"
)


@dataclass(frozen=True)
class RatingsData:
    """All ratings as parallel arrays (one entry per rating)."""

    user_ids: np.ndarray
    """int64 ``users.id``."""
    movie_ids: np.ndarray
    """int64 ``movies.id``."""
    stars: np.ndarray
    """float32 stars, 0.5..5.0."""
    timestamps: np.ndarray
    """int64 unix seconds of ``updated_at``."""

    def __post_init__(self) -> None:
        # Normalise dtypes once so every consumer can rely on them.
        object.__setattr__(self, "user_ids", np.ascontiguousarray(self.user_ids, np.int64))
        object.__setattr__(self, "movie_ids", np.ascontiguousarray(self.movie_ids, np.int64))
        object.__setattr__(self, "stars", np.ascontiguousarray(self.stars, np.float32))
        object.__setattr__(self, "timestamps", np.ascontiguousarray(self.timestamps, np.int64))
        lengths = {len(a) for a in (self.user_ids, self.movie_ids, self.stars, self.timestamps)}
        if len(lengths) != 1:
            raise ValueError(f"ratings arrays differ in length: {sorted(lengths)}")

    @classmethod
    def from_arrays(
        cls,
        user_ids: Any,
        movie_ids: Any,
        stars: Any,
        timestamps: Any | None = None,
    ) -> RatingsData:
        users = np.asarray(user_ids)
        if timestamps is None:
            timestamps = np.zeros(len(users), dtype=np.int64)
        return cls(users, np.asarray(movie_ids), np.asarray(stars), np.asarray(timestamps))

    @classmethod
    def empty(cls) -> RatingsData:
        return cls.from_arrays([], [], [], [])

    @property
    def n(self) -> int:
        return int(self.user_ids.shape[0])

    def __len__(self) -> int:
        return self.n

    @property
    def newest_rating_at(self) -> str | None:
        """ISO-8601 UTC time of the newest ``updated_at``, or None without ratings."""
        if self.n == 0:
            return None
        return datetime.fromtimestamp(int(self.timestamps.max()), UTC).isoformat()

    def subset(self, selector: np.ndarray) -> RatingsData:
        """The ratings a boolean mask or an index array selects."""
        return RatingsData(
            self.user_ids[selector],
            self.movie_ids[selector],
            self.stars[selector],
            self.timestamps[selector],
        )


def load_ratings(db: Database) -> RatingsData:
    """Every rating of ``db`` as arrays, without building ORM objects."""
    started = time.perf_counter()
    if db.is_sqlite:
        data = _load_sqlite(db)
    elif db.engine.dialect.name == "postgresql":
        data = _load_postgres(db)
    else:
        data = _load_dbapi(db, POSTGRES_QUERY)
    log.info("loaded %d ratings in %.2f s", data.n, time.perf_counter() - started)
    return data


def _load_sqlite(db: Database) -> RatingsData:
    database = make_url(db.url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        # ADBC opens its own connection; an in-memory database is only visible
        # through SQLAlchemy's, so read it through that.
        return _load_dbapi(db, SQLITE_QUERY)
    try:
        import adbc_driver_sqlite.dbapi as adbc_sqlite
    except ImportError:  # pragma: no cover - a declared dependency
        return _load_dbapi(db, SQLITE_QUERY)
    with adbc_sqlite.connect(database) as connection, connection.cursor() as cursor:
        cursor.execute(SQLITE_QUERY)
        table = cursor.fetch_arrow_table()
    return _from_arrow(table)


def postgres_libpq_uri(db: Database) -> str:
    """The SQLAlchemy URL as a libpq URI (what ADBC's PostgreSQL driver takes)."""
    url = make_url(db.url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def _load_postgres(db: Database) -> RatingsData:
    try:
        return load_postgres_adbc(db)
    except ImportError:
        log.debug("adbc-driver-postgresql is not installed; using psycopg COPY")
    except Exception as error:  # the driver's own error classes vary by version
        log.info("ADBC PostgreSQL read failed (%s); using psycopg COPY", error)
    return load_postgres_copy(db)


def load_postgres_adbc(db: Database) -> RatingsData:
    import adbc_driver_postgresql.dbapi as adbc_postgres

    with (
        adbc_postgres.connect(postgres_libpq_uri(db)) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute(POSTGRES_QUERY)
        table = cursor.fetch_arrow_table()
    return _from_arrow(table)


# One row of ``COPY ... (FORMAT binary)`` for the four NOT NULL columns of
# POSTGRES_QUERY: a field count, then (length, value) per field, big-endian.
_COPY_ROW = np.dtype(
    [
        ("nfields", ">i2"),
        ("l0", ">i4"),
        ("user_id", ">i8"),
        ("l1", ">i4"),
        ("movie_id", ">i8"),
        ("l2", ">i4"),
        ("stars", ">f4"),
        ("l3", ">i4"),
        ("ts", ">i8"),
    ]
)
_COPY_HEADER = 19  # signature (11) + flags (4) + header extension length (4)
_COPY_TRAILER = 2  # the int16 -1 after the last row


def load_postgres_copy(db: Database) -> RatingsData:
    """psycopg's binary COPY parsed with one structured dtype (no per-row Python)."""
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        chunks: list[bytes] = []
        with cursor.copy(f"COPY ({POSTGRES_QUERY}) TO STDOUT (FORMAT binary)") as copy:
            for chunk in copy:
                chunks.append(bytes(chunk))
        raw.commit()
    finally:
        raw.close()
    buffer = b"".join(chunks)
    header_extension = int.from_bytes(buffer[15:19], "big")
    body = memoryview(buffer)[_COPY_HEADER + header_extension : len(buffer) - _COPY_TRAILER]
    rows = np.frombuffer(body, dtype=_COPY_ROW)
    if len(rows) and not (rows["nfields"] == 4).all():
        raise ValueError("unexpected COPY layout")
    return RatingsData(rows["user_id"], rows["movie_id"], rows["stars"], rows["ts"])


def _load_dbapi(db: Database, query: str) -> RatingsData:
    """Generic path: the raw DBAPI cursor, rows straight into numpy."""
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(query)
        rows = cursor.fetchall()
        cursor.close()
    finally:
        raw.close()
    if not rows:
        return RatingsData.empty()
    table = np.array(rows, dtype=np.float64)
    return RatingsData(
        table[:, 0].astype(np.int64),
        table[:, 1].astype(np.int64),
        table[:, 2].astype(np.float32),
        table[:, 3].astype(np.int64),
    )


def _from_arrow(table: Any) -> RatingsData:
    def column(index: int, dtype: Any) -> np.ndarray:
        array = table.column(index).to_numpy()
        return np.asarray(array, dtype=dtype)

    if table.num_rows == 0:
        return RatingsData.empty()
    return RatingsData(
        column(0, np.int64), column(1, np.int64), column(2, np.float32), column(3, np.int64)
    )
