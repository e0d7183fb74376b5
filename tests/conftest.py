"""Fixtures shared by the whole suite: temporary databases (SQLite, and PostgreSQL when the
local server answers), a tiny catalogue, and the core wired over them."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from nncf_core.app import Core
from nncf_core.db import migrate
from nncf_core.db.engine import Database, reachable
from nncf_core.db.models import Movie
from nncf_core.settings import Settings
from nncf_core.titles import normalize, split_title

ROOT = Path(__file__).resolve().parents[1]
MOVIELENS_SMALL = ROOT.parent / "shared" / "data" / "ml-latest-small"
PG_SERVER = "postgresql+psycopg://root@127.0.0.1:5432/test"

TINY_MOVIES = [
    (1, "Toy Story (1995)", "Adventure|Animation|Children|Comedy|Fantasy"),
    (2, "Jumanji (1995)", "Adventure|Children|Fantasy"),
    (3, "Matrix, The (1999)", "Action|Sci-Fi|Thriller"),
    (4, "Heat (1995)", "Action|Crime|Thriller"),
    (5, "Heat (1986)", "Action|Drama"),
    (6, "Alien (1979)", "Horror|Sci-Fi"),
    (7, "Aliens (1986)", "Action|Horror|Sci-Fi"),
    (8, "Amélie (Fabuleux destin d'Amélie Poulain, Le) (2001)", "Comedy|Romance"),
    (9, "Godfather, The (1972)", "Crime|Drama"),
    (10, "Notebook, The (2004)", "Drama|Romance"),
]


_PG = reachable(PG_SERVER)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated empty SQLite file, copied for each test (migrating is the slow part)."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "nncf.sqlite3"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema on the local PostgreSQL, migrated to head, dropped afterwards."""
    if not _PG:
        pytest.skip("PostgreSQL at 127.0.0.1:5432 is not reachable")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{PG_SERVER}?options=-csearch_path%3D{schema}"
    migrate.upgrade(url)
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each test that takes this runs once on SQLite and once on PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return request.getfixturevalue(name)


def make_settings(url: str, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=url,
        model_dir=tmp_path / "models",
        discord_token=None,
    )


@pytest.fixture
def settings(sqlite_url: str, tmp_path: Path) -> Settings:
    return make_settings(sqlite_url, tmp_path)


def add_movies(db: Database, rows: list[tuple[int, str, str]] = TINY_MOVIES) -> None:
    with db.session() as session:
        for movie_id, raw, genres in rows:
            title, year = split_title(raw)
            session.add(
                Movie(
                    id=movie_id,
                    title=title,
                    year=year,
                    genres=genres,
                    title_normalized=normalize(title),
                )
            )


@pytest.fixture
def core(settings: Settings) -> Iterator[Core]:
    """The core over a temporary SQLite database holding the tiny catalogue."""
    with Core(settings) as instance:
        add_movies(instance.db)
        yield instance


@pytest.fixture
def any_core(db_url: str, tmp_path: Path) -> Iterator[Core]:
    """Like ``core``, on SQLite and on PostgreSQL."""
    with Core(make_settings(db_url, tmp_path)) as instance:
        add_movies(instance.db)
        yield instance
