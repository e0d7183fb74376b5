from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from nncf_core.db.engine import Database
from nncf_core.db.models import Movie, Rating, User


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """An empty migrated database, on SQLite and on PostgreSQL."""
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def sqlite_db(sqlite_url: str) -> Iterator[Database]:
    database = Database(sqlite_url)
    yield database
    database.dispose()


def movies(db: Database) -> dict[int, Movie]:
    return db.read(lambda s: {m.id: m for m in s.scalars(select(Movie))})


def users(db: Database) -> dict[str, int]:
    return db.read(lambda s: {u.external_id: u.id for u in s.scalars(select(User))})


def ratings(db: Database) -> dict[tuple[str, int], tuple[float, datetime, datetime, str]]:
    """(external user id, movie id) -> (stars, created_at, updated_at, source), read by the ORM."""

    def read(session: Session) -> dict[tuple[str, int], tuple[float, datetime, datetime, str]]:
        rows = session.execute(
            select(User.external_id, Rating.movie_id, Rating).join(User, User.id == Rating.user_id)
        )
        return {
            (ext, movie): (r.stars, r.created_at, r.updated_at, r.source) for ext, movie, r in rows
        }

    return db.read(read)


def counts(db: Database) -> tuple[int, int, int]:
    with db.engine.connect() as connection:
        return tuple(  # type: ignore[return-value]
            int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
            for table in ("movies", "users", "ratings")
        )


class RowWrites:
    """Counts rows UPDATEd in movies, users and ratings: SQLite triggers, PostgreSQL xmin."""

    TABLES = ("movies", "users", "ratings")

    def __init__(self, db: Database) -> None:
        self.db = db
        if db.is_sqlite:
            with db.engine.begin() as connection:
                connection.execute(text("CREATE TABLE test_writes (tbl TEXT)"))
                for table in self.TABLES:
                    connection.execute(
                        text(
                            f"CREATE TRIGGER test_{table}_updated AFTER UPDATE ON {table} "
                            f"BEGIN INSERT INTO test_writes VALUES ('{table}'); END"
                        )
                    )
        self.before = self._versions()

    def _versions(self) -> dict[str, dict[int, str]]:
        if self.db.is_sqlite:
            return {}
        with self.db.engine.connect() as connection:
            return {
                table: dict(connection.execute(text(f"SELECT id, xmin::text FROM {table}")).all())
                for table in self.TABLES
            }

    def updates(self) -> dict[str, int]:
        """Table -> rows updated since construction (tables without updates left out)."""
        if self.db.is_sqlite:
            with self.db.engine.connect() as connection:
                query = text("SELECT tbl, count(*) FROM test_writes GROUP BY tbl")
                return dict(connection.execute(query).all())
        after = self._versions()
        changed = {
            table: sum(1 for id_, version in rows.items() if after[table].get(id_) != version)
            for table, rows in self.before.items()
        }
        return {table: n for table, n in changed.items() if n}
