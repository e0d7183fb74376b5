"""``nncf-bot worker``: run training jobs from the ``training_jobs`` queue.

The bot and any number of workers share the database and ``MODEL_DIR`` (a
shared folder or volume). Artifacts stay files rather than database blobs:
they are written atomically next to where they are served from, checked by the
SHA-256 recorded in ``model_versions``, and a 40 MB blob per version would bloat
every backup and replica of the ratings database.

Each job is claimed by exactly one worker (:func:`nncf_core.ml.jobs.claim_next`);
a worker that dies stops heartbeating and the next sweep of any worker (or of
the bot) fails its job, which an admin may queue again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from nncf_core.db.engine import Database
from nncf_core.ml import jobs
from nncf_core.ml.retrain import HEARTBEAT_INTERVAL_S, RetrainResult, retrain

log = logging.getLogger(__name__)

STALE_AFTER_S = 8 * HEARTBEAT_INTERVAL_S
"""A running job without a heartbeat for this long has lost its worker."""


def run_job(
    db: Database, model_dir: Path, job_id: int, keep_versions: int | None = None
) -> RetrainResult:
    """Run one queued (or already claimed) job to its end."""
    job = jobs.get_job(db, job_id)
    trigger = job.trigger if job is not None else "cli"
    return retrain(db, model_dir, trigger=trigger, job_id=job_id, keep_versions=keep_versions)


def run_worker(
    db: Database,
    model_dir: Path,
    *,
    poll_s: float = 2.0,
    stale_after_s: float = STALE_AFTER_S,
    max_jobs: int | None = None,
    stop: threading.Event | None = None,
    on_result: Callable[[RetrainResult], None] | None = None,
    on_start: Callable[[int], None] | None = None,
    keep_versions: int | None = None,
) -> int:
    """Claim and run jobs until ``stop`` is set (or ``max_jobs`` ran); returns how many ran.

    Between jobs the worker also fails stale running jobs, so a crashed worker's
    job does not stay "running" even when no bot is up.
    """
    stop = stop or threading.Event()
    name = jobs.worker_name()
    done = 0
    log.info("worker %s waiting for training jobs", name)
    while not stop.is_set() and (max_jobs is None or done < max_jobs):
        jobs.fail_stale(db, stale_after_s)
        job = jobs.claim_next(db, name)
        if job is None:
            stop.wait(poll_s)
            continue
        if on_start is not None:
            on_start(job.id)
        result = run_job(db, model_dir, job.id, keep_versions)
        done += 1
        if on_result is not None:
            on_result(result)
    return done
