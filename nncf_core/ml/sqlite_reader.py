"""Read the ratings of a SQLite file with the ADBC driver, in a child process.

The ADBC driver links its own copy of SQLite. Two copies of SQLite in one
process corrupt each other's view of a database file: POSIX locks belong to
the process, so when one copy closes the file the other silently loses its
locks, and the ADBC copy then checkpoints and deletes the ``-wal``/``-shm``
files under SQLAlchemy's open connection (stale reads, then "disk I/O error";
see https://www.sqlite.org/howtocorrupt.html, section 2.2.1). Running the ADBC
read in a short-lived child keeps the fast path and one SQLite per process.

Run as ``python -m nncf_core.ml.sqlite_reader DATABASE OUTPUT.npy-prefix``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

SQLITE_TEXT_QUERY = "SELECT user_id, movie_id, stars, updated_at FROM ratings ORDER BY id"
SQLITE_QUERY = (
    "SELECT user_id, movie_id, stars, unixepoch(updated_at) AS ts FROM ratings ORDER BY id"
)
COLUMNS = ("user_ids", "movie_ids", "stars", "timestamps")


def read(database: str) -> dict[str, np.ndarray]:
    import adbc_driver_sqlite.dbapi as adbc_sqlite

    from nncf_core.ml.data import parse_utc_text

    with adbc_sqlite.connect(database) as connection, connection.cursor() as cursor:
        cursor.execute(SQLITE_TEXT_QUERY)
        table = cursor.fetch_arrow_table()
        seconds = parse_utc_text(table.column(3))
        if seconds is None:
            # Text in another shape (a zone suffix, a 'T'): let SQLite convert it.
            cursor.execute(SQLITE_QUERY)
            table = cursor.fetch_arrow_table()
            seconds = np.asarray(table.column(3).to_numpy(), dtype=np.int64)
    return {
        "user_ids": np.asarray(table.column(0).to_numpy(), dtype=np.int64),
        "movie_ids": np.asarray(table.column(1).to_numpy(), dtype=np.int64),
        "stars": np.asarray(table.column(2).to_numpy(), dtype=np.float32),
        "timestamps": seconds,
    }


def main(argv: list[str]) -> int:
    database, prefix = argv
    for name, array in read(database).items():
        # Plain .npy files: written and memory-mapped back without a copy.
        np.save(Path(f"{prefix}.{name}.npy"), array, allow_pickle=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
