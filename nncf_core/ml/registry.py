"""The model registry: ``model_versions`` rows, the one active model, and their artifacts.

Artifacts live in MODEL_DIR; a row stores the file name relative to it (so the
folder can move) and the file's SHA-256 (so a corrupt or swapped file is
refused instead of served).
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from nncf_core.db.engine import Database
from nncf_core.db.models import ModelVersion, utcnow
from nncf_core.errors import UnknownModelVersion
from nncf_core.ml.artifacts import ModelArtifact, load_artifact
from nncf_core.ml.jobs import exclusive_lock

log = logging.getLogger(__name__)

MODEL_KIND = "nncf"


def _relative_to(path: Path, folder: Path) -> str:
    try:
        return str(path.resolve().relative_to(folder.resolve()))
    except ValueError:
        return str(path.resolve())


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def register_version(
    db: Database,
    *,
    artifact_path: Path,
    model_dir: Path,
    sha256: str,
    artifact: ModelArtifact,
    job_id: int | None,
) -> ModelVersion:
    """Record a saved artifact as a new, inactive model version."""
    metrics = artifact.metrics
    holdout = metrics.get("holdout_rmse")
    version = ModelVersion(
        artifact_path=_relative_to(artifact_path, model_dir),
        sha256=sha256,
        is_active=False,
        model_kind=str(artifact.extras_meta.get("kind", MODEL_KIND)),
        config=artifact.train_config or {"model": artifact.model_config.as_dict()},
        metrics=metrics,
        n_ratings=int(artifact.n_ratings),
        newest_rating_at=_parse_time(artifact.newest_rating_at),
        holdout_rmse=float(holdout) if holdout is not None else None,
        training_job_id=job_id,
    )

    def insert(session: Session) -> ModelVersion:
        session.add(version)
        session.flush()
        return version

    registered = db.write(insert)
    log.info("registered model version %d (%s)", registered.id, registered.artifact_path)
    return registered


def activate(db: Database, version_id: int) -> ModelVersion:
    """Make ``version_id`` the one active model (the others inactive), in one transaction."""

    def switch(session: Session) -> ModelVersion:
        # Without the lock two concurrent activations on PostgreSQL could each
        # clear the flags they see and both set theirs: two active models.
        exclusive_lock(session, "model_versions")
        version = session.get(ModelVersion, version_id)
        if version is None:
            raise UnknownModelVersion(version_id)
        session.execute(
            update(ModelVersion)
            .where(ModelVersion.is_active.is_(True), ModelVersion.id != version_id)
            .values(is_active=False)
            .execution_options(synchronize_session=False)
        )
        version.is_active = True
        version.activated_at = utcnow()
        return version

    version = db.write(switch)
    log.info("model version %d is now active", version_id)
    return version


def active_version(db: Database) -> ModelVersion | None:
    """The model the bot serves, or None before the first training."""
    return db.read(
        lambda session: session.scalar(
            select(ModelVersion)
            .where(ModelVersion.is_active.is_(True))
            .order_by(ModelVersion.activated_at.desc(), ModelVersion.id.desc())
            .limit(1)
        )
    )


def get_version(db: Database, version_id: int) -> ModelVersion | None:
    return db.read(lambda session: session.get(ModelVersion, version_id))


def require_version(db: Database, version_id: int) -> ModelVersion:
    """Like :func:`get_version`, but an unknown id is a :class:`UnknownModelVersion`."""
    version = get_version(db, version_id)
    if version is None:
        raise UnknownModelVersion(version_id)
    return version


def list_versions(db: Database) -> list[ModelVersion]:
    """Every version, newest first."""
    return db.read(
        lambda session: list(session.scalars(select(ModelVersion).order_by(ModelVersion.id.desc())))
    )


def artifact_file(model_dir: Path, version: ModelVersion) -> Path:
    """Where the version's artifact is (absolute paths are kept as they are)."""
    path = Path(version.artifact_path)
    return path if path.is_absolute() else model_dir / path


def load_version(model_dir: Path, version: ModelVersion) -> ModelArtifact:
    """The version's artifact, checksum-verified; :class:`ArtifactError` when it is not usable."""
    artifact = load_artifact(artifact_file(model_dir, version), version.sha256)
    # Building the network checks every weight against the config, not only the shapes
    # that loading checks, so a file that loads here also serves.
    artifact.build_model()
    return artifact


def activate_verified(db: Database, model_dir: Path, version_id: int) -> ModelVersion:
    """An explicit override (``nncf-bot models activate``): activate only a loadable artifact."""
    load_version(model_dir, require_version(db, version_id))
    return activate(db, version_id)
