"""Engine and session set-up, SQLite tuning, and retries on a busy database."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from nncf_core.errors import DatabaseBusy

log = logging.getLogger(__name__)

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 5_000


def reachable(url: str, timeout_s: float = 2.0) -> bool:
    """Whether the database at ``url`` accepts a connection (a server within ``timeout_s``)."""
    args = {} if is_sqlite(url) else {"connect_timeout": max(1, round(timeout_s))}
    engine = create_engine(url, connect_args=args)
    try:
        with engine.connect():
            return True
    except Exception:
        return False
    finally:
        engine.dispose()


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Foreign keys are off by default in SQLite; WAL lets the bot read while a
    # trainer or importer writes. The busy timeout, sqlite3's ``timeout``
    # argument set in make_engine, turns short lock waits into waiting instead
    # of "database is locked" errors.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite files get their folder created and the pragmas set."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {}).setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _is_transient(error: BaseException) -> bool:
    if isinstance(error, OperationalError):
        text = str(error.orig).lower() if error.orig is not None else str(error).lower()
        transient = (
            "database is locked",
            "database is busy",
            "could not connect",
            "connection refused",
            "server closed the connection",
            "deadlock detected",
            "could not serialize",
            "connection timeout",
            "terminating connection",
        )
        return any(marker in text for marker in transient) or error.connection_invalidated
    if isinstance(error, DBAPIError):
        return bool(error.connection_invalidated)
    return False


def retry_transient(
    fn: Callable[[], T], *, budget_s: float = 8.0, first_delay_s: float = 0.05
) -> T:
    """Run ``fn`` (a whole transaction), retrying on a locked or unreachable database.

    Retries back off exponentially with jitter and stop after ``budget_s``;
    then :class:`DatabaseBusy` says "try again" to the user. ``fn`` must be a
    complete transaction so that a retry never half-applies anything.
    """
    deadline = time.monotonic() + budget_s
    delay = first_delay_s
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except (OperationalError, DBAPIError) as error:
            if not _is_transient(error):
                raise
            if time.monotonic() + delay > deadline:
                log.warning("database still unavailable after %d attempts: %s", attempt, error)
                raise DatabaseBusy() from error
            log.info("transient database error (attempt %d), retrying: %s", attempt, error)
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 1.0)


class Database:
    """An engine with its session factory: the handle every service takes."""

    def __init__(self, url: str, *, write_budget_s: float = 8.0, **engine_kwargs: Any) -> None:
        self.url = url
        self.write_budget_s = write_budget_s
        """How long a write keeps retrying a locked or unreachable database."""
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error."""
        with self.sessions.begin() as session:
            yield session

    def write(self, fn: Callable[[Session], T], *, budget_s: float | None = None) -> T:
        """Run ``fn`` in its own transaction, retried as a whole on transient errors."""

        def attempt() -> T:
            with self.session() as session:
                return fn(session)

        return retry_transient(
            attempt, budget_s=self.write_budget_s if budget_s is None else budget_s
        )

    def read(self, fn: Callable[[Session], T]) -> T:
        with self.sessions() as session:
            return fn(session)

    def dispose(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        # Never show a password from the URL.
        return f"Database({make_url(self.url).render_as_string(hide_password=True)!r})"
