"""Concurrent writers, a locked database and an unreachable one."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from nncf_core.db.engine import Database, reachable
from nncf_core.db.models import Rating, User
from nncf_core.errors import DatabaseBusy
from nncf_core.services.catalog import MovieCatalog
from nncf_core.services.ratings import RatingService
from nncf_core.services.users import UserKey
from tests.conftest import add_movies

WRITERS = 4
WRITES_EACH = 25


def _writer(url: str, index: int, start: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    db = Database(url)
    service = RatingService(db, MovieCatalog(db))
    user = UserKey.parse("shared-user")
    start.wait()
    for _ in range(WRITES_EACH - 1):
        service.rate(user, "Toy Story", 0.5, "console")
    # Each writer's last write carries its own value, so the final row tells
    # whose write committed last.
    service.rate(user, "Toy Story", float(index + 1), "console")
    db.dispose()


def test_concurrent_upserts_from_processes_leave_one_row_with_a_last_value(db_url: str) -> None:
    db = Database(db_url)
    add_movies(db)
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [context.Process(target=_writer, args=(db_url, i, start)) for i in range(WRITERS)]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 1
        rows = session.execute(select(Rating.stars)).scalars().all()
    assert len(rows) == 1
    assert rows[0] in {float(i + 1) for i in range(WRITERS)}
    db.dispose()


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    assert database is not None
    return Path(database)


def test_write_waits_for_a_briefly_locked_sqlite_database(sqlite_url: str) -> None:
    db = Database(sqlite_url, connect_args={"timeout": 0.1}, write_budget_s=5)
    add_movies(db)
    service = RatingService(db, MovieCatalog(db))
    locker = sqlite3.connect(
        _sqlite_path(sqlite_url), isolation_level=None, check_same_thread=False
    )
    locker.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(0.6, lambda: locker.execute("COMMIT"))
    release.start()
    started = time.monotonic()
    result = service.rate(UserKey.parse("ann"), "Toy Story", 4, "console")
    assert result.stars == 4
    assert time.monotonic() - started >= 0.5
    release.join()
    locker.close()
    assert service.user_ratings(UserKey.parse("ann")) == {1: 4.0}
    db.dispose()


def test_a_database_locked_too_long_says_try_again_and_writes_nothing(sqlite_url: str) -> None:
    db = Database(sqlite_url, connect_args={"timeout": 0.05}, write_budget_s=0.5)
    add_movies(db)
    service = RatingService(db, MovieCatalog(db))
    service.catalog.refresh()
    locker = sqlite3.connect(_sqlite_path(sqlite_url), isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(DatabaseBusy, match="Try again"):
            service.rate(UserKey.parse("ann"), "Toy Story", 4, "console")
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 0
        assert session.scalar(select(func.count()).select_from(Rating)) == 0
    db.dispose()


def test_an_unreachable_postgres_says_try_again() -> None:
    # Port 9 (discard) is closed on loopback: every connection is refused.
    db = Database(
        "postgresql+psycopg://root@127.0.0.1:9/test",
        write_budget_s=0.3,
        connect_args={"connect_timeout": 1},
    )
    with pytest.raises(DatabaseBusy):
        db.write(lambda session: session.execute(select(1)))
    db.dispose()


def test_reachable_tells_a_live_database_from_a_dead_server(sqlite_url: str) -> None:
    assert reachable(sqlite_url)
    assert not reachable("postgresql+psycopg://root@127.0.0.1:1/test", timeout_s=1)
