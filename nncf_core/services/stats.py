"""Counts for `db stats` and /status."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import func, select

from nncf_core.db.engine import Database
from nncf_core.db.models import ModelVersion, Movie, Rating, TrainingJob, User


@dataclass(frozen=True)
class DbStats:
    movies: int
    users: int
    ratings: int
    models: int
    training_jobs: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def db_stats(db: Database) -> DbStats:
    with db.engine.connect() as connection:

        def count(model: type) -> int:
            return int(connection.scalar(select(func.count()).select_from(model)) or 0)

        return DbStats(
            movies=count(Movie),
            users=count(User),
            ratings=count(Rating),
            models=count(ModelVersion),
            training_jobs=count(TrainingJob),
        )
