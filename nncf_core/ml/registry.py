"""The model registry: ``model_versions`` rows, the one active model, and their artifacts.

Artifacts live in MODEL_DIR; a row stores the file name relative to it (so the
folder can move) and the file's SHA-256 (so a corrupt or swapped file is
refused instead of served).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, select, update
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


ORPHAN_MIN_AGE_S = 3600.0
"""Files in MODEL_DIR that no version refers to are removed only when this old: a
running training writes its artifact before it registers it."""


@dataclass(frozen=True)
class PruneReport:
    removed_versions: list[int]
    """Version ids whose row and artifact were removed (or would be, on a dry run)."""
    removed_files: list[Path]
    """Their artifacts and old files no version refers to (unfinished writes, say)."""
    freed_bytes: int
    kept_versions: list[int]

    @property
    def summary(self) -> str:
        if not self.removed_versions and not self.removed_files:
            return f"Nothing to prune; {len(self.kept_versions)} version(s) kept."
        ids = ", ".join(f"v{i}" for i in self.removed_versions) or "no versions"
        return (
            f"Pruned {ids} and {len(self.removed_files)} file(s), "
            f"{self.freed_bytes / 1e6:,.1f} MB; kept {len(self.kept_versions)} version(s)."
        )


def prune_versions(
    db: Database, model_dir: Path, *, keep: int, dry_run: bool = False
) -> PruneReport:
    """Remove all but the active version and the ``keep`` newest others, row and file.

    Rows go in one transaction that re-reads which version is active, so a
    concurrent activation can never lose its model (activating a removed version
    then fails with "unknown version"). Serving processes hold their model in
    memory, so removing a file they loaded earlier is harmless.
    """
    if keep < 0:
        raise ValueError(f"keep must be >= 0, got {keep}")

    def choose(session: Session) -> tuple[list[ModelVersion], list[int]]:
        exclusive_lock(session, "model_versions")
        versions = list(session.scalars(select(ModelVersion).order_by(ModelVersion.id.desc())))
        others = [v for v in versions if not v.is_active]
        doomed = others[keep:]
        if doomed and not dry_run:
            session.execute(
                delete(ModelVersion)
                .where(
                    ModelVersion.id.in_([v.id for v in doomed]), ModelVersion.is_active.is_(False)
                )
                .execution_options(synchronize_session=False)
            )
        kept = [v.id for v in versions if v not in doomed]
        return doomed, kept

    doomed, kept = db.write(choose)
    files = [artifact_file(model_dir, v) for v in doomed]
    referenced = {artifact_file(model_dir, v).resolve() for v in list_versions(db)}
    files += _orphans(model_dir, referenced | {f.resolve() for f in files})
    freed = 0
    removed: list[Path] = []
    for path in files:
        try:
            size = path.stat().st_size
            if not dry_run:
                path.unlink()
        except FileNotFoundError:
            continue
        except OSError as error:
            log.warning("could not remove %s: %s", path, error)
            continue
        freed += size
        removed.append(path)
    report = PruneReport([v.id for v in doomed], removed, freed, kept)
    if not dry_run and (doomed or removed):
        log.info(report.summary)
    return report


def _orphans(model_dir: Path, referenced: set[Path]) -> list[Path]:
    """Artifacts and unfinished ``.tmp`` writes in ``model_dir`` that nothing refers to."""
    if not model_dir.is_dir():
        return []
    cutoff = time.time() - ORPHAN_MIN_AGE_S
    found = []
    for path in sorted(model_dir.iterdir()):
        if not path.is_file() or path.resolve() in referenced:
            continue
        if not (path.name.startswith("model-") or path.name.startswith(".model-")):
            continue  # not ours: never touch other files in the folder
        if path.suffix in (".pt", ".tmp") and path.stat().st_mtime < cutoff:
            found.append(path)
    return found
