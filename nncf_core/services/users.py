"""Who a user is: ``movielens:42``, ``discord:1234``, ``console:NAME`` or a plain name."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from nncf_core.db.models import User, utcnow
from nncf_core.errors import InvalidInput, UnknownUser

MAX_NAME = 100


@dataclass(frozen=True)
class UserKey:
    """A parsed user reference. Exactly one of ``discord_id`` and ``external_id`` is set."""

    discord_id: int | None = None
    external_id: str | None = None
    display_name: str | None = None

    @classmethod
    def parse(cls, spec: str) -> UserKey:
        text = spec.strip()
        if not text:
            raise InvalidInput("A user name cannot be empty.")
        if len(text) > MAX_NAME:
            raise InvalidInput(f"A user name can have at most {MAX_NAME} characters.")
        if any(not ch.isprintable() for ch in text):
            raise InvalidInput("A user name cannot contain control characters.")
        kind, sep, rest = text.partition(":")
        if sep and kind == "discord":
            if not rest.isdigit() or not 0 < int(rest) < 2**63:
                raise InvalidInput(f"{text!r} is not a Discord user id (discord:<digits>).")
            return cls(discord_id=int(rest))
        if sep and kind == "movielens":
            if not rest.isdigit():
                raise InvalidInput(f"{text!r} is not a MovieLens user (movielens:<digits>).")
            return cls(external_id=f"movielens:{int(rest)}")
        if sep and kind == "console":
            return cls(external_id=f"console:{rest}", display_name=rest)
        return cls(external_id=f"console:{text}", display_name=text)

    @classmethod
    def discord(cls, discord_id: int, display_name: str | None = None) -> UserKey:
        return cls(discord_id=discord_id, display_name=display_name)

    @property
    def can_create(self) -> bool:
        """Imported users exist only through an import; the others are made on first use."""
        return not (self.external_id or "").startswith("movielens:")

    def __str__(self) -> str:
        return (
            f"discord:{self.discord_id}" if self.discord_id is not None else str(self.external_id)
        )


def _lookup(session: Session, key: UserKey) -> User | None:
    if key.discord_id is not None:
        return session.scalar(select(User).where(User.discord_id == key.discord_id))
    return session.scalar(select(User).where(User.external_id == key.external_id))


def find_user(session: Session, key: UserKey) -> User | None:
    return _lookup(session, key)


def get_user(session: Session, key: UserKey) -> User:
    user = _lookup(session, key)
    if user is None:
        raise UnknownUser(str(key))
    return user


def get_or_create_user(session: Session, key: UserKey) -> User:
    """The user, created on first use (concurrent first uses end with one row)."""
    user = _lookup(session, key)
    if user is not None:
        return user
    if not key.can_create:
        raise UnknownUser(str(key))
    values = {
        "discord_id": key.discord_id,
        "external_id": key.external_id,
        "display_name": key.display_name,
        "created_at": utcnow(),
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(User).values(**values).on_conflict_do_nothing())
    user = _lookup(session, key)
    assert user is not None
    return user
