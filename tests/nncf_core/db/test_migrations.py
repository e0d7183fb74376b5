from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect

from nncf_core.app import Core
from nncf_core.db import migrate
from nncf_core.db.engine import Database
from nncf_core.errors import DatabaseBehind
from tests.conftest import make_settings

CONTRACT_TABLES = {"movies", "users", "ratings", "model_versions", "training_jobs"}


def test_head_matches_models_then_downgrades(db_url: str) -> None:
    # db_url is already at head: alembic check must find nothing to autogenerate.
    command.check(migrate.alembic_config(db_url))
    db = Database(db_url)
    try:
        assert set(inspect(db.engine).get_table_names()) >= CONTRACT_TABLES
        migrate.downgrade(db_url, "base")
        assert not CONTRACT_TABLES & set(inspect(db.engine).get_table_names())
        assert migrate.current_revision(db.engine) is None
        migrate.upgrade(db_url)
        assert migrate.current_revision(db.engine) == migrate.head_revision()
    finally:
        db.dispose()


def test_core_refuses_a_database_that_is_behind(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    with pytest.raises(DatabaseBehind, match="nncf-bot db upgrade"):
        Core(make_settings(url, tmp_path))


def test_sqlite_connections_are_tuned(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    db.dispose()
