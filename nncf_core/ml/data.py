"""Ratings straight from the database into numpy arrays, by the fastest measured path.

No ORM objects and no per-row Python (``benchmarks/load_ratings.py`` measures
the alternatives on 5M ratings):

* SQLite: the ADBC driver streams Arrow columns, ``updated_at`` (UTC text, as
  SQLAlchemy and the importer write it) turned into unix seconds by
  ``unixepoch()`` of the driver's bundled SQLite, in a short-lived child process
  (see :mod:`nncf_core.ml.sqlite_reader` for why). Measured on 5M ratings, that
  beats shipping the text and parsing it with Arrow, and ``strftime('%s')``.
* PostgreSQL: the ADBC driver (binary COPY underneath), timestamps as Arrow
  timestamps converted afterwards; without ADBC, psycopg's binary ``COPY ... TO
  STDOUT`` parsed with one numpy structured dtype.

Ratings come in ``id`` order so that the same table gives the same arrays (the
trainer's seed then reproduces a run).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.engine import make_url

from nncf_core.db.engine import Database
from nncf_core.ml.sqlite_reader import SQLITE_QUERY

log = logging.getLogger(__name__)

# On SQLite the rowid order is free. SQLite before 3.38 (no unixepoch) and
# before ~3.42 rounds fractions of .9995 s and more up to the next second; the
# bundled SQLite of the ADBC driver is recent.
SQLITE_LEGACY_QUERY = (
    "SELECT user_id, movie_id, stars, CAST(strftime('%s', updated_at) AS INTEGER) AS ts "
    "FROM ratings ORDER BY id"
)
# No ORDER BY: sorting 5M rows costs the server more than numpy's check (and,
# rarely, argsort) of the ids here.
POSTGRES_ARROW_QUERY = "SELECT id, user_id, movie_id, stars, updated_at FROM ratings"
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
        return _load_dbapi(db, _sqlite_dbapi_query())
    try:
        return _load_sqlite_adbc_isolated(database)
    except (OSError, subprocess.SubprocessError) as error:
        log.warning("ADBC read of %s failed (%s); reading through sqlite3", database, error)
        return _load_dbapi(db, _sqlite_dbapi_query())


def _load_sqlite_adbc_isolated(database: str) -> RatingsData:
    """ADBC's Arrow read, in a child process (see :mod:`nncf_core.ml.sqlite_reader`)."""
    from nncf_core.ml.sqlite_reader import COLUMNS

    with tempfile.TemporaryDirectory(prefix="nncf-ratings-", dir=_scratch_dir()) as folder:
        prefix = str(Path(folder) / "ratings")
        completed = subprocess.run(
            [sys.executable, "-m", "nncf_core.ml.sqlite_reader", database, prefix],
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode != 0:
            raise subprocess.SubprocessError(completed.stderr.strip().splitlines()[-1:])
        arrays = [np.load(f"{prefix}.{name}.npy", allow_pickle=False) for name in COLUMNS]
    return RatingsData(*arrays)


def _scratch_dir() -> str | None:
    # RAM-backed when the machine has it: the arrays never touch a disk.
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def _sqlite_dbapi_query() -> str:
    import sqlite3

    return SQLITE_QUERY if sqlite3.sqlite_version_info >= (3, 38) else SQLITE_LEGACY_QUERY


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
    import pyarrow as pa

    with (
        adbc_postgres.connect(postgres_libpq_uri(db)) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute(POSTGRES_ARROW_QUERY)
        table = cursor.fetch_arrow_table()
    if table.num_rows == 0:
        return RatingsData.empty()
    ids = table.column(0).to_numpy()
    micros = table.column(4).cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy()
    data = RatingsData(
        table.column(1).to_numpy(),
        table.column(2).to_numpy(),
        table.column(3).to_numpy(),
        np.floor_divide(micros, 1_000_000),
    )
    return _in_id_order(ids, data)


# One row of ``COPY ... (FORMAT binary)`` of POSTGRES_COPY_QUERY (all columns NOT
# NULL): a field count, then (length, value) per field, big-endian; a timestamptz
# is int64 microseconds since 2000-01-01 UTC.
POSTGRES_COPY_QUERY = (
    "SELECT id::int8, user_id::int8, movie_id::int8, stars::float4, updated_at FROM ratings"
)
_COPY_ROW = np.dtype(
    [
        ("nfields", ">i2"),
        ("l0", ">i4"),
        ("id", ">i8"),
        ("l1", ">i4"),
        ("user_id", ">i8"),
        ("l2", ">i4"),
        ("movie_id", ">i8"),
        ("l3", ">i4"),
        ("stars", ">f4"),
        ("l4", ">i4"),
        ("micros", ">i8"),
    ]
)
_COPY_HEADER = 19  # signature (11) + flags (4) + header extension length (4)
_COPY_TRAILER = 2  # the int16 -1 after the last row
_POSTGRES_EPOCH_S = 946_684_800  # 2000-01-01T00:00:00Z


def load_postgres_copy(db: Database) -> RatingsData:
    """psycopg's binary COPY parsed with one structured dtype (no per-row Python)."""
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        chunks: list[bytes] = []
        with cursor.copy(f"COPY ({POSTGRES_COPY_QUERY}) TO STDOUT (FORMAT binary)") as copy:
            for chunk in copy:
                chunks.append(bytes(chunk))
        raw.commit()
    finally:
        raw.close()
    buffer = b"".join(chunks)
    header_extension = int.from_bytes(buffer[15:19], "big")
    body = memoryview(buffer)[_COPY_HEADER + header_extension : len(buffer) - _COPY_TRAILER]
    rows = np.frombuffer(body, dtype=_COPY_ROW)
    if len(rows) and not (rows["nfields"] == 5).all():
        raise ValueError("unexpected COPY layout")
    seconds = np.floor_divide(rows["micros"], 1_000_000) + _POSTGRES_EPOCH_S
    data = RatingsData(rows["user_id"], rows["movie_id"], rows["stars"], seconds)
    return _in_id_order(np.asarray(rows["id"]), data)


def _in_id_order(ids: np.ndarray, data: RatingsData) -> RatingsData:
    """``data`` sorted by rating id (a heap scan is usually, not always, in id order)."""
    if len(ids) > 1 and not bool(np.all(ids[1:] > ids[:-1])):
        return data.subset(np.argsort(ids, kind="stable"))
    return data


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


def _from_arrow(table: Any, seconds: np.ndarray | None = None) -> RatingsData:
    """Columns user_id, movie_id, stars and (unless ``seconds`` is given) unix seconds."""
    if table.num_rows == 0:
        return RatingsData.empty()
    return RatingsData(
        table.column(0).to_numpy(),
        table.column(1).to_numpy(),
        table.column(2).to_numpy(),
        table.column(3).to_numpy() if seconds is None else seconds,
    )
