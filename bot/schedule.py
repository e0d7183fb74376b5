"""When a retrain is due, and what /status reports (pure database reads, no Discord)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nncf_core.db.engine import Database
from nncf_core.db.models import ModelVersion, Rating, TrainingJob, utcnow
from nncf_core.ml import jobs
from nncf_core.ml.registry import active_version
from nncf_core.settings import Settings


@dataclass(frozen=True)
class ModelStatus:
    version: ModelVersion | None
    ratings_total: int
    ratings_since: int
    """Ratings stored or changed after the newest rating the active model saw."""
    active_job: TrainingJob | None
    last_job: TrainingJob | None


def ratings_since(session: Session, moment: datetime | None) -> int:
    query = select(func.count()).select_from(Rating)
    if moment is not None:
        query = query.where(Rating.updated_at > moment)
    return int(session.scalar(query) or 0)


def model_status(db: Database) -> ModelStatus:
    version = active_version(db)

    def read(session: Session) -> tuple[int, int]:
        total = ratings_since(session, None)
        newer = total if version is None else ratings_since(session, version.newest_rating_at)
        return total, newer

    total, newer = db.read(read)
    return ModelStatus(
        version=version,
        ratings_total=total,
        ratings_since=newer,
        active_job=jobs.active_job(db),
        last_job=jobs.latest_job(db),
    )


def retrain_due(
    db: Database, settings: Settings, now: datetime | None = None
) -> tuple[str | None, int]:
    """``("threshold" | "schedule" | None, new ratings)``.

    ``threshold``: at least RETRAIN_MIN_NEW_RATINGS ratings arrived since the
    active model's newest rating. ``schedule``: the active model is older than
    RETRAIN_MAX_AGE_HOURS and any rating arrived. Without a model, any rating
    makes a retrain due (the model is "infinitely old").
    """
    now = now or utcnow()
    version = active_version(db)
    newer = db.read(
        lambda session: ratings_since(session, version.newest_rating_at if version else None)
    )
    if newer == 0:
        return None, 0
    if newer >= settings.retrain_min_new_ratings:
        return "threshold", newer
    max_age = timedelta(hours=settings.retrain_max_age_hours)
    if version is None or now - version.created_at >= max_age:
        return "schedule", newer
    return None, newer
