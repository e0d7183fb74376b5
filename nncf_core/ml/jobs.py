"""The training-job queue: one ``training_jobs`` row per training run.

Safe with several processes on one database (bot, CLI, ``nncf-bot worker``):

- :func:`enqueue` and :func:`start_job` check "is a job already queued/running?"
  and insert in one transaction that holds an exclusive lock (see
  :func:`exclusive_lock`), so two requests at the same moment give one job.
- :func:`claim_next` hands each queued job to exactly one worker: on PostgreSQL
  ``SELECT ... FOR UPDATE SKIP LOCKED``; everywhere a conditional
  ``UPDATE ... WHERE id = ? AND status = 'queued'`` whose row count says who won.
- A running job's worker calls :func:`heartbeat`; :func:`fail_stale` fails the
  jobs whose worker stopped beating (crashed, killed, machine gone).
"""

from __future__ import annotations

import logging
import os
import socket
import zlib
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from nncf_core.db.engine import Database
from nncf_core.db.models import JOB_TRIGGERS, TrainingJob, utcnow
from nncf_core.errors import InvalidInput, JobAlreadyQueued

log = logging.getLogger(__name__)

ACTIVE_STATUSES = ("queued", "running")
FINAL_STATUSES = ("succeeded", "failed", "rejected")


def worker_name() -> str:
    """``host:pid`` of this process, stored in ``training_jobs.worker``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def exclusive_lock(session: Session, name: str) -> None:
    """Serialise the transactions that take the same ``name`` until this one ends.

    For check-then-write sequences ("no active job? insert one") that must not
    interleave. PostgreSQL: a transaction-scoped advisory lock. SQLite: the
    driver begins the transaction lazily at the first write statement, so a
    write that touches no row takes the database's write lock right now; later
    reads in this transaction then see every committed row and nobody can
    write before we commit.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        key = zlib.crc32(f"nncf-bot:{name}".encode())
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    elif dialect == "sqlite":
        session.execute(text("UPDATE training_jobs SET id = id WHERE 0 = 1"))


def _check_trigger(trigger: str) -> None:
    if trigger not in JOB_TRIGGERS:
        raise InvalidInput(f"Unknown training trigger {trigger!r}; use one of {JOB_TRIGGERS}.")


def _insert_unless_active(db: Database, blocking: tuple[str, ...], **values: Any) -> TrainingJob:
    def insert(session: Session) -> TrainingJob:
        exclusive_lock(session, "training_jobs")
        existing = session.scalar(
            select(TrainingJob)
            .where(TrainingJob.status.in_(blocking))
            .order_by(TrainingJob.id)
            .limit(1)
        )
        if existing is not None:
            raise JobAlreadyQueued(existing.id, existing.status)
        job = TrainingJob(**values)
        session.add(job)
        session.flush()
        return job

    return db.write(insert)


def enqueue(
    db: Database,
    trigger: str,
    requested_by: str | None,
    config: dict[str, Any] | None = None,
    notify_channel: str | None = None,
) -> TrainingJob:
    """Queue a training job for a worker; :class:`JobAlreadyQueued` if one is queued or running."""
    _check_trigger(trigger)
    job = _insert_unless_active(
        db,
        ACTIVE_STATUSES,
        trigger=trigger,
        requested_by=requested_by,
        status="queued",
        config=config,
        notify_channel=notify_channel,
    )
    log.info("queued training job #%d (%s, by %s)", job.id, trigger, requested_by)
    return job


def start_job(
    db: Database,
    trigger: str,
    requested_by: str | None,
    config: dict[str, Any] | None = None,
    worker: str | None = None,
) -> TrainingJob:
    """A job that this process runs right now (``nncf-bot train``): created as running.

    Refused with :class:`JobAlreadyQueued` while another job is *running*; a
    queued one stays queued for the workers.
    """
    _check_trigger(trigger)
    now = utcnow()
    return _insert_unless_active(
        db,
        ("running",),
        trigger=trigger,
        requested_by=requested_by,
        status="running",
        config=config,
        worker=worker or worker_name(),
        started_at=now,
        heartbeat_at=now,
    )


def _mark_running(session: Session, job_id: int, worker: str) -> bool:
    """queued -> running for one job; False when someone else got there first."""
    now = utcnow()
    result = session.execute(
        update(TrainingJob)
        .where(TrainingJob.id == job_id, TrainingJob.status == "queued")
        .values(status="running", worker=worker, started_at=now, heartbeat_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def claim_next(db: Database, worker: str | None = None) -> TrainingJob | None:
    """Move the oldest queued job to running for ``worker`` and return it (None: queue empty).

    Each job is claimed by exactly one caller, however many call at once.
    """
    worker = worker or worker_name()

    def claim(session: Session) -> TrainingJob | None:
        while True:
            # SKIP LOCKED: PostgreSQL claimers pass over a row another one is
            # claiming instead of queueing behind it. SQLite ignores the clause
            # (writers are serialised) and relies on the conditional UPDATE.
            job_id = session.scalar(
                select(TrainingJob.id)
                .where(TrainingJob.status == "queued")
                .order_by(TrainingJob.created_at, TrainingJob.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if job_id is None:
                return None
            if _mark_running(session, job_id, worker):
                session.flush()
                return session.get(TrainingJob, job_id, populate_existing=True)
            # Lost the race for this row; the next oldest may still be free.

    job = db.write(claim)
    if job is not None:
        log.info("worker %s claimed training job #%d", worker, job.id)
    return job


def claim(db: Database, job_id: int, worker: str | None = None) -> TrainingJob:
    """Claim one specific queued job (a job the bot queued and then runs itself).

    A job that is already running is returned as it is (its claimer is running
    it, e.g. the worker that called :func:`claim_next` and then ``retrain``).
    """
    worker = worker or worker_name()

    def attempt(session: Session) -> TrainingJob:
        job = session.get(TrainingJob, job_id)
        if job is None:
            raise InvalidInput(f"There is no training job #{job_id}.")
        if job.status == "running":
            return job
        if job.status != "queued" or not _mark_running(session, job_id, worker):
            raise InvalidInput(f"Training job #{job_id} is {job.status}; it cannot be started.")
        return session.get(TrainingJob, job_id, populate_existing=True)  # type: ignore[return-value]

    return db.write(attempt)


def heartbeat(db: Database, job_id: int) -> bool:
    """Record that the job's worker is alive; False when the job is no longer running
    (failed as stale, for example): the worker should then stop."""

    def beat(session: Session) -> bool:
        result = session.execute(
            update(TrainingJob)
            .where(TrainingJob.id == job_id, TrainingJob.status == "running")
            .values(heartbeat_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    return db.write(beat)


def finish(
    db: Database,
    job_id: int,
    status: str,
    *,
    message: str | None = None,
    error: str | None = None,
    metrics: dict[str, Any] | None = None,
    model_version_id: int | None = None,
) -> TrainingJob:
    """Record a job's outcome (succeeded, failed or rejected)."""
    if status not in FINAL_STATUSES:
        raise ValueError(f"a job finishes as one of {FINAL_STATUSES}, not {status!r}")

    def record(session: Session) -> TrainingJob:
        job = session.get(TrainingJob, job_id)
        if job is None:
            raise InvalidInput(f"There is no training job #{job_id}.")
        if job.status != "running":
            # The worker's own outcome wins over, e.g., a stale-heartbeat failure
            # recorded while it was still alive: it is what really happened.
            log.warning("job #%d was %s when its worker finished it", job_id, job.status)
        job.status = status
        job.finished_at = utcnow()
        job.message = message
        job.error = error
        if metrics is not None:
            job.metrics = metrics
        if model_version_id is not None:
            job.model_version_id = model_version_id
        return job

    return db.write(record)


def fail_stale(db: Database, older_than_s: float) -> list[TrainingJob]:
    """Fail running jobs whose last heartbeat is older than ``older_than_s`` seconds."""
    cutoff = utcnow() - timedelta(seconds=older_than_s)

    last_sign = func.coalesce(TrainingJob.heartbeat_at, TrainingJob.started_at)

    def sweep(session: Session) -> list[TrainingJob]:
        candidates = session.execute(
            select(TrainingJob.id, last_sign, TrainingJob.worker).where(
                TrainingJob.status == "running", last_sign < cutoff
            )
        ).all()
        failed: list[int] = []
        for job_id, seen, worker in candidates:
            # Re-checked in the UPDATE itself: a heartbeat that lands between the
            # SELECT and here keeps its job alive.
            result = session.execute(
                update(TrainingJob)
                .where(
                    TrainingJob.id == job_id, TrainingJob.status == "running", last_sign < cutoff
                )
                .values(
                    status="failed",
                    finished_at=utcnow(),
                    error=(
                        f"worker died: no heartbeat since {_when(seen)} "
                        f"(worker {worker or 'unknown'}, limit {older_than_s:g} s)"
                    ),
                )
                .execution_options(synchronize_session=False)
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                failed.append(job_id)
        return [job for job_id in failed if (job := session.get(TrainingJob, job_id))]

    failed = db.write(sweep)
    for job in failed:
        log.warning("training job #%d failed: %s", job.id, job.error)
    return failed


def get_job(db: Database, job_id: int) -> TrainingJob | None:
    return db.read(lambda session: session.get(TrainingJob, job_id))


def latest_job(db: Database) -> TrainingJob | None:
    """The most recently created job, whatever its status."""
    return db.read(
        lambda session: session.scalar(select(TrainingJob).order_by(TrainingJob.id.desc()).limit(1))
    )


def active_job(db: Database) -> TrainingJob | None:
    """The queued or running job, if any (the oldest when there are several)."""
    return db.read(
        lambda session: session.scalar(
            select(TrainingJob)
            .where(TrainingJob.status.in_(ACTIVE_STATUSES))
            .order_by(TrainingJob.id)
            .limit(1)
        )
    )


def list_jobs(db: Database, limit: int = 20) -> list[TrainingJob]:
    """The newest ``limit`` jobs, newest first."""
    return db.read(
        lambda session: list(
            session.scalars(select(TrainingJob).order_by(TrainingJob.id.desc()).limit(limit))
        )
    )


def pending_notifications(db: Database) -> list[TrainingJob]:
    """Finished jobs whose requester asked to hear the outcome and has not yet, oldest first."""
    return db.read(
        lambda session: list(
            session.scalars(
                select(TrainingJob)
                .where(
                    TrainingJob.status.in_(FINAL_STATUSES),
                    TrainingJob.notify_channel.is_not(None),
                    TrainingJob.notified.is_(False),
                )
                .order_by(TrainingJob.id)
            )
        )
    )


def mark_notified(db: Database, job_id: int) -> bool:
    """Record that the outcome was delivered; False if it already was (another process won)."""

    def mark(session: Session) -> bool:
        result = session.execute(
            update(TrainingJob)
            .where(TrainingJob.id == job_id, TrainingJob.notified.is_(False))
            .values(notified=True)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    return db.write(mark)


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment is not None else "never"
