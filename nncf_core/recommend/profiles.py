"""A user's current ratings and hidden movies, read in bulk for one or many users."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select
from sqlalchemy.engine import Connection

from nncf_core.db.engine import Database
from nncf_core.db.models import MovieFlag, Rating, User
from nncf_core.errors import UnknownUser
from nncf_core.services.users import UserKey

CHUNK = 500
"""Ids per ``IN (...)`` list, well under every driver's parameter limit."""


@dataclass(frozen=True)
class UserProfile:
    key: UserKey
    user_id: int | None
    """``users.id``; None for someone who never used the bot."""
    movie_ids: np.ndarray
    """int64, sorted: the movies they rated."""
    stars: np.ndarray
    """float32, aligned with ``movie_ids``."""
    rated_at: np.ndarray
    """int64 unix seconds (floored) of each rating's ``updated_at``, aligned with ``movie_ids``."""
    newest_at: int | None
    """Unix seconds (floored) of their newest ``updated_at``."""
    hidden: np.ndarray
    """int64: movies they flagged (not interested, seen)."""
    fingerprint: bytes = field(init=False)
    """Changes whenever any of their ratings does."""

    def __post_init__(self) -> None:
        digest = hashlib.blake2b(digest_size=16)
        digest.update(self.movie_ids.tobytes())
        digest.update(self.stars.tobytes())
        object.__setattr__(self, "fingerprint", digest.digest())

    @property
    def has_ratings(self) -> bool:
        return len(self.movie_ids) > 0

    def excluded(self, extra: frozenset[int] = frozenset()) -> np.ndarray:
        """Movie ids never to recommend them: rated, hidden, and ``extra``."""
        parts = [self.movie_ids, self.hidden]
        if extra:
            parts.append(np.fromiter(extra, dtype=np.int64, count=len(extra)))
        return np.unique(np.concatenate(parts))

    def liked(self, threshold: float = 4.0, fallback: int = 3) -> np.ndarray:
        """Movie ids they rated ``threshold`` or more; else their ``fallback`` best."""
        chosen = self.movie_ids[self.stars >= threshold]
        if len(chosen) or not len(self.movie_ids):
            return chosen
        order = np.lexsort((self.movie_ids, -self.stars))
        return self.movie_ids[order[:fallback]]


def load_profiles(db: Database, keys: Sequence[UserKey]) -> list[UserProfile]:
    """Profiles in the order of ``keys``. Unknown imported users raise :class:`UnknownUser`;
    unknown bot users get an empty profile (they simply have not rated yet)."""
    # Core statements on a plain connection: the ORM's row processing costs more
    # than the query itself for a user with thousands of ratings.
    with db.engine.connect() as connection:
        return _read(connection, keys)


def _read(connection: Connection, keys: Sequence[UserKey]) -> list[UserProfile]:
    ids = _user_ids(connection, keys)
    for key in keys:
        if ids.get(key) is None and not key.can_create:
            raise UnknownUser(str(key))
    known = sorted({i for i in ids.values() if i is not None})
    ratings: dict[int, list[tuple[int, float, int]]] = {i: [] for i in known}
    hidden: dict[int, list[int]] = {i: [] for i in known}
    for chunk in _chunks(known):
        # Ordered by the unique (user_id, movie_id) index: profiles come out sorted.
        for user_id, movie_id, stars, moment in connection.execute(
            select(Rating.user_id, Rating.movie_id, Rating.stars, Rating.updated_at)
            .where(Rating.user_id.in_(chunk))
            .order_by(Rating.user_id, Rating.movie_id)
        ).all():
            ratings[user_id].append((movie_id, stars, math.floor(moment.timestamp())))
        for user_id, movie_id in connection.execute(
            select(MovieFlag.user_id, MovieFlag.movie_id)
            .where(MovieFlag.user_id.in_(chunk))
            .order_by(MovieFlag.user_id, MovieFlag.movie_id)
        ).all():
            hidden[user_id].append(movie_id)
    profiles = []
    for key in keys:
        user_id = ids.get(key)
        rows = ratings.get(user_id, []) if user_id is not None else []
        rated_at = np.array([r[2] for r in rows], dtype=np.int64)
        profiles.append(
            UserProfile(
                key=key,
                user_id=user_id,
                movie_ids=np.array([r[0] for r in rows], dtype=np.int64),
                stars=np.array([r[1] for r in rows], dtype=np.float32),
                rated_at=rated_at,
                newest_at=int(rated_at.max()) if len(rated_at) else None,
                hidden=np.array(
                    hidden.get(user_id, []) if user_id is not None else [], dtype=np.int64
                ),
            )
        )
    return profiles


def _user_ids(connection: Connection, keys: Sequence[UserKey]) -> dict[UserKey, int | None]:
    discord = sorted({k.discord_id for k in keys if k.discord_id is not None})
    external = sorted({k.external_id for k in keys if k.external_id is not None})
    by_discord: dict[int, int] = {}
    by_external: dict[str, int] = {}
    for chunk in _chunks(discord):
        for user_id, discord_id in connection.execute(
            select(User.id, User.discord_id).where(User.discord_id.in_(chunk))
        ).all():
            by_discord[discord_id] = user_id
    for chunk in _chunks(external):
        for user_id, external_id in connection.execute(
            select(User.id, User.external_id).where(User.external_id.in_(chunk))
        ).all():
            by_external[external_id] = user_id
    return {
        key: (
            by_discord.get(key.discord_id)
            if key.discord_id is not None
            else by_external.get(key.external_id or "")
        )
        for key in keys
    }


def _chunks(values: list) -> list[list]:  # type: ignore[type-arg]
    return [values[i : i + CHUNK] for i in range(0, len(values), CHUNK)]
