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

# unixepoch() of the driver's bundled (recent) SQLite is exact and, measured on
# 5M ratings, cheaper than shipping the text and parsing it with Arrow (2.2 s
# against 3.3 s for the whole child run; benchmarks/load_ratings.py).
SQLITE_QUERY = (
    "SELECT user_id, movie_id, stars, unixepoch(updated_at) AS ts FROM ratings ORDER BY id"
)
COLUMNS = ("user_ids", "movie_ids", "stars", "timestamps")


def read(database: str) -> dict[str, np.ndarray]:
    import adbc_driver_sqlite.dbapi as adbc_sqlite

    with adbc_sqlite.connect(database) as connection, connection.cursor() as cursor:
        cursor.execute(SQLITE_QUERY)
        table = cursor.fetch_arrow_table()
    dtypes = (np.int64, np.int64, np.float32, np.int64)
    return {
        name: np.asarray(table.column(k).to_numpy(), dtype=dtype)
        for k, (name, dtype) in enumerate(zip(COLUMNS, dtypes, strict=True))
    }


def main(argv: list[str]) -> int:
    database, prefix = argv
    for name, array in read(database).items():
        # Plain .npy files: written and memory-mapped back without a copy.
        np.save(Path(f"{prefix}.{name}.npy"), array, allow_pickle=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
