"""The schema, as SQLAlchemy 2.0 typed models.

Table names are part of the contract (other tools read them). Alembic's
migrations in ``migrations/`` own the schema; these models are what
``alembic check`` compares them against.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

RATING_SOURCES = ("discord", "console", "import")
JOB_TRIGGERS = ("cli", "admin", "schedule", "threshold")
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "rejected")
FLAG_KINDS = ("not_interested", "seen")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes stored as UTC on every backend.

    SQLite has no time zones: values come back naive, so they are re-tagged
    as UTC here instead of at every call site.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Movie(Base):
    __tablename__ = "movies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    """MovieLens movie id when imported."""
    title: Mapped[str] = mapped_column(String(500))
    """Display title without the year, articles moved to the front ("The Matrix")."""
    year: Mapped[int | None] = mapped_column(Integer)
    genres: Mapped[str] = mapped_column(String(500), default="")
    """``|``-separated MovieLens genres; empty when unknown."""
    imdb_id: Mapped[str | None] = mapped_column(String(16))
    tmdb_id: Mapped[int | None] = mapped_column(Integer)
    title_normalized: Mapped[str] = mapped_column(String(500), index=True)
    """Lower-case, accent-free, punctuation-free title for search."""

    @property
    def genre_list(self) -> list[str]:
        return [g for g in self.genres.split("|") if g and g != "(no genres listed)"]

    @property
    def label(self) -> str:
        return f"{self.title} ({self.year})" if self.year else self.title


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    discord_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    """``movielens:123`` for imported users, ``console:NAME`` for console users."""
    display_name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Rating(Base):
    __tablename__ = "ratings"
    __table_args__ = (
        UniqueConstraint("user_id", "movie_id"),
        CheckConstraint(
            "stars >= 0.5 AND stars <= 5.0 AND stars * 2 = CAST(stars * 2 AS INTEGER)",
            name="stars_half_steps",
        ),
        CheckConstraint(_in("source", RATING_SOURCES), name="source_known"),
        Index("ix_ratings_movie_id", "movie_id"),
        Index("ix_ratings_updated_at", "updated_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    movie_id: Mapped[int] = mapped_column(ForeignKey("movies.id", ondelete="CASCADE"))
    stars: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    source: Mapped[str] = mapped_column(String(16))

    movie: Mapped[Movie] = relationship(lazy="joined")


class MovieFlag(Base):
    """A movie a user asked not to be recommended ("not interested", "seen it")."""

    __tablename__ = "movie_flags"
    __table_args__ = (
        UniqueConstraint("user_id", "movie_id"),
        CheckConstraint(_in("kind", FLAG_KINDS), name="kind_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    movie_id: Mapped[int] = mapped_column(ForeignKey("movies.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TrainingJob(Base):
    __tablename__ = "training_jobs"
    __table_args__ = (
        CheckConstraint(_in("trigger", JOB_TRIGGERS), name="trigger_known"),
        CheckConstraint(_in("status", JOB_STATUSES), name="status_known"),
        Index("ix_training_jobs_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trigger: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str | None] = mapped_column(String(200))
    """Who asked: ``discord:ID``, ``console:NAME``, ``cli`` or ``scheduler``."""
    status: Mapped[str] = mapped_column(String(16), default="queued")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    worker: Mapped[str | None] = mapped_column(String(200))
    """Host and pid of the process that claimed the job."""
    config: Mapped[dict[str, Any] | None]
    """Training config overrides for this job."""
    metrics: Mapped[dict[str, Any] | None]
    """Outcome: holdout RMSE of the new and of the previously active model, curve, timings."""
    message: Mapped[str | None] = mapped_column(Text)
    """Human-readable outcome (why it was rejected, for example)."""
    error: Mapped[str | None] = mapped_column(Text)
    model_version_id: Mapped[int | None]
    """The version this job produced (no foreign key: the two tables refer to each other)."""
    notify_channel: Mapped[str | None] = mapped_column(String(200))
    """Where to report the outcome (the bot stores the interaction's follow-up target)."""
    notified: Mapped[bool] = mapped_column(Boolean, default=False)


class ModelVersion(Base):
    __tablename__ = "model_versions"
    __table_args__ = (Index("ix_model_versions_is_active", "is_active"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    artifact_path: Mapped[str] = mapped_column(String(1000))
    """File name relative to MODEL_DIR (absolute paths are kept as they are)."""
    sha256: Mapped[str] = mapped_column(String(64))
    """Checksum of the artifact, so a corrupt or swapped file is refused."""
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)
    activated_at: Mapped[datetime | None]
    model_kind: Mapped[str] = mapped_column(String(64), default="nncf")
    config: Mapped[dict[str, Any]]
    metrics: Mapped[dict[str, Any]]
    n_ratings: Mapped[int] = mapped_column(Integer)
    """Data fingerprint: ratings seen by the training run."""
    newest_rating_at: Mapped[datetime | None]
    """Data fingerprint: newest ``updated_at`` among them."""
    holdout_rmse: Mapped[float | None] = mapped_column(Float)
    training_job_id: Mapped[int | None] = mapped_column(
        ForeignKey("training_jobs.id", ondelete="SET NULL")
    )
