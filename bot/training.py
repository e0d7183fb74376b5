"""Training jobs from the bot's side: queue, run in a child process, report, hot-swap.

- Jobs are rows of ``training_jobs`` (:mod:`nncf_core.ml.jobs`). With
  ``TRAINING_RUNNER=inprocess`` this service claims queued jobs one at a time
  and runs each in a ``spawn``-ed child process (:mod:`bot.trainproc`); with
  ``worker`` it only queues and lets ``nncf-bot worker`` processes run them.
- A watch loop notices finished jobs (whoever ran them): it hot-swaps the
  recommender when the active model changed, and delivers the outcome of jobs
  someone asked to be told about. The admin's interaction follow-up is used
  while it is valid (15 minutes, kept in memory); otherwise the report goes to
  the requester's DMs (``notify_channel = "dm:<user id>"``).
- On start, running jobs whose worker stopped beating are failed, so no job
  stays "running" forever after a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import multiprocessing
import os
import socket
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any

import discord
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import trainproc
from bot.charts import curve_png
from nncf_core.db.engine import Database
from nncf_core.db.models import TrainingJob
from nncf_core.ml import jobs
from nncf_core.ml.registry import active_version
from nncf_core.ml.worker import STALE_AFTER_S

if TYPE_CHECKING:
    from bot.bot import NNCFBot

log = logging.getLogger(__name__)

WATCH_INTERVAL_S = 5.0
SWEEP_INTERVAL_S = 60.0
"""How often the watch loop looks for jobs whose worker stopped beating."""
FOLLOWUP_VALID_S = 14 * 60
"""Interaction tokens last 15 minutes; keep a margin."""
STOPPED_REASON = "interrupted: the bot stopped during training"
STOP_GRACE_S = 20.0
"""How long a stopping bot waits for the training process to record its interruption."""


@dataclass
class _Followup:
    interaction: discord.Interaction[Any]
    expires: float


BOT_WORKER_SUFFIX = ":bot"


def bot_worker_name() -> str:
    """``host:pid:bot``: how this bot signs the jobs it claims."""
    return f"{jobs.worker_name()}{BOT_WORKER_SUFFIX}"


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def fail_orphans(db: Database) -> list[int]:
    """Fail running jobs claimed by an earlier bot process on this host that no longer
    exists (crashed or killed): no need to wait for their heartbeat to go stale."""
    host = socket.gethostname()

    def running(session: Session) -> list[tuple[int, str | None]]:
        rows = session.execute(
            select(TrainingJob.id, TrainingJob.worker).where(TrainingJob.status == "running")
        )
        return [(row[0], row[1]) for row in rows]

    failed = []
    for job_id, worker in db.read(running):
        parts = (worker or "").removesuffix(BOT_WORKER_SUFFIX).rsplit(":", 1)
        if not (worker or "").endswith(BOT_WORKER_SUFFIX) or len(parts) != 2:
            continue
        worker_host, pid = parts
        if worker_host != host or not pid.isdigit() or int(pid) == os.getpid():
            continue
        if _process_gone(int(pid)):
            jobs.finish(db, job_id, "failed", error=f"the bot that ran it (pid {pid}) is gone")
            failed.append(job_id)
    return failed


def report_text(job: TrainingJob) -> str:
    """The outcome of a finished job, for the person who asked for it."""
    metrics = job.metrics or {}
    if job.status == "succeeded":
        head = (
            f"Training job #{job.id} finished: **promoted**, "
            f"model v{job.model_version_id} is now active."
        )
    elif job.status == "rejected":
        head = (
            f"Training job #{job.id} finished: **rejected**, the active model stays "
            f"(the new v{job.model_version_id} was not better on the holdout)."
        )
    else:
        reason = (job.error or "unknown error").splitlines()[0][:300]
        head = f"Training job #{job.id} **failed**: {reason}. The active model is unchanged."
    lines = [head]
    old, new = metrics.get("old_holdout_rmse"), metrics.get("new_holdout_rmse")
    if old is not None or new is not None:
        lines.append(f"Holdout RMSE: old {_rmse(old)} → new {_rmse(new)}")
    if metrics.get("n_ratings") is not None:
        lines.append(f"Ratings used: {int(metrics['n_ratings']):,}")
    seconds = metrics.get("seconds")
    if seconds is None and job.started_at and job.finished_at:
        seconds = (job.finished_at - job.started_at).total_seconds()
    if seconds is not None:
        lines.append(f"Duration: {float(seconds):.1f} s")
    return "\n".join(lines)


def _rmse(value: float | None) -> str:
    return "n/a" if value is None else f"{float(value):.4f}"


class TrainingService:
    def __init__(self, bot: NNCFBot) -> None:
        self.bot = bot
        self._followups: dict[int, _Followup] = {}
        self._wake_runner = asyncio.Event()
        self._wake_watch = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._process: BaseProcess | None = None
        self._served_version: int | None = None
        self._stopping = False
        self._swept_at = time.monotonic()
        self.running_job_id: int | None = None

    @property
    def runs_jobs(self) -> bool:
        return self.bot.settings.training_runner == "inprocess"

    async def start(self) -> None:
        db = self.bot.core.db
        for job in await self.bot.run_sync(jobs.fail_stale, db, STALE_AFTER_S):
            log.warning("training job #%d was left running; marked failed", job.id)
        for job_id in await self.bot.run_sync(fail_orphans, db):
            log.warning("training job #%d belonged to a bot that is gone; marked failed", job_id)
        version = await self.bot.run_sync(active_version, db)
        self._served_version = version.id if version else None
        self._tasks.append(asyncio.create_task(self._watch(), name="nncf-job-watch"))
        if self.runs_jobs:
            self._tasks.append(asyncio.create_task(self._runner(), name="nncf-job-runner"))
            self._wake_runner.set()  # a job queued while the bot was down

    async def stop(self) -> None:
        """Interrupt a running training process (it records the interruption on its
        job; one that does not stop in time is killed), then stop the loops."""
        self._stopping = True
        process, job_id = self._process, self.running_job_id
        if process is not None and process.is_alive():
            log.info("stopping the training process of job #%s", job_id)
            process.terminate()
            await asyncio.to_thread(process.join, STOP_GRACE_S)
            if process.is_alive():
                process.kill()
                await asyncio.to_thread(process.join, 5.0)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self._fail_if_running(job_id, STOPPED_REASON)

    async def queue(
        self, trigger: str, requested_by: str, notify: discord.Interaction[Any] | None = None
    ) -> TrainingJob:
        """Queue a job (:class:`JobAlreadyQueued` when one is queued or running)."""
        config = self.bot.train_config.as_dict() if self.bot.train_config else None
        channel = f"dm:{notify.user.id}" if notify is not None else None
        job = await self.bot.run_sync(
            jobs.enqueue, self.bot.core.db, trigger, requested_by, config, channel
        )
        if notify is not None:
            self._followups[job.id] = _Followup(notify, time.monotonic() + FOLLOWUP_VALID_S)
        self._wake_runner.set()
        return job

    # ----------------------------------------------------------------- runner

    async def _runner(self) -> None:
        worker = bot_worker_name()
        while True:
            await self._wake_runner.wait()
            self._wake_runner.clear()
            while not self._stopping:
                job = await self.bot.run_sync(jobs.claim_next, self.bot.core.db, worker)
                if job is None:
                    break
                try:
                    await self._run(job)
                except Exception:
                    log.exception("could not run training job #%d", job.id)
                    await self._fail_if_running(job.id, "the training process could not run")
                self._wake_watch.set()

    async def _run(self, job: TrainingJob) -> None:
        if self._stopping:  # claimed just as the bot began to stop
            await self._fail_if_running(job.id, STOPPED_REASON)
            return
        settings = self.bot.settings
        context = multiprocessing.get_context("spawn")
        process = context.Process(
            target=trainproc.run_job,
            args=(
                settings.database_url,
                str(settings.model_dir),
                job.id,
                job.trigger,
                settings.log_level,
                settings.model_keep_versions,
            ),
            name=f"nncf-train-{job.id}",
        )
        self._process, self.running_job_id = process, job.id
        try:
            await asyncio.to_thread(process.start)
            log.info("training job #%d running in process %s", job.id, process.pid)
            await asyncio.to_thread(process.join)
            if process.exitcode != 0:
                reason = (
                    STOPPED_REASON
                    if self._stopping
                    else f"the training process exited with code {process.exitcode}"
                )
                await self._fail_if_running(job.id, reason)
        finally:
            self._process, self.running_job_id = None, None

    async def _fail_if_running(self, job_id: int | None, error: str) -> None:
        if job_id is None:
            return
        job = await self.bot.run_sync(jobs.get_job, self.bot.core.db, job_id)
        if job is not None and job.status == "running":
            await self.bot.run_sync(jobs.finish, self.bot.core.db, job_id, "failed", error=error)

    # ------------------------------------------------------------------ watch

    async def _watch(self) -> None:
        while True:
            try:
                await self.check()
            except Exception:
                log.exception("checking training jobs failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_watch.wait(), WATCH_INTERVAL_S)
            self._wake_watch.clear()

    async def check(self) -> None:
        """Hot-swap a newly active model and deliver pending job reports."""
        db = self.bot.core.db
        version = await self.bot.run_sync(active_version, db)
        version_id = version.id if version else None
        if version_id != self._served_version:
            await self.bot.run_sync(self.bot.core.recommender.refresh)
            log.info("now serving model v%s (was v%s)", version_id, self._served_version)
            self._served_version = version_id
        for job in await self.bot.run_sync(jobs.pending_notifications, db):
            # mark_notified is true for exactly one caller: at most one report per job.
            if await self.bot.run_sync(jobs.mark_notified, db, job.id):
                await self._deliver(job)
        # Whoever ran a job that stopped beating (a killed worker or bot), fail it, so
        # that it neither stays "running" nor blocks new jobs.
        if time.monotonic() - self._swept_at >= SWEEP_INTERVAL_S:
            self._swept_at = time.monotonic()
            await self.bot.run_sync(jobs.fail_stale, db, STALE_AFTER_S)
        if self.runs_jobs and self._process is None:
            # Jobs queued by another process (the CLI, a second bot) run here too.
            waiting = await self.bot.run_sync(jobs.active_job, db)
            if waiting is not None and waiting.status == "queued":
                self._wake_runner.set()

    async def _deliver(self, job: TrainingJob) -> None:
        text = report_text(job)
        curve = (job.metrics or {}).get("curve") or []
        try:
            png = await self.bot.run_sync(curve_png, curve, f"Training job #{job.id}")
        except Exception:
            log.exception("could not draw the training curve of job #%d", job.id)
            png = None

        def attachment() -> Any:
            if png is None:
                return discord.utils.MISSING
            return discord.File(io.BytesIO(png), filename="training-curve.png")

        followup = self._followups.pop(job.id, None)
        if followup is not None and time.monotonic() < followup.expires:
            try:
                await followup.interaction.followup.send(text, file=attachment(), ephemeral=True)
                return
            except discord.HTTPException as error:
                log.info("follow-up for job #%d failed (%s); sending a DM", job.id, error)
        user_id = _dm_target(job.notify_channel)
        if user_id is None:
            log.warning("job #%d has an unknown notify_channel %r", job.id, job.notify_channel)
            return
        try:
            channel = await self.bot.create_dm(discord.Object(id=user_id))
            await channel.send(text, file=attachment())
        except discord.HTTPException as error:
            log.warning("could not report training job #%d: %s", job.id, error)


def _dm_target(channel: str | None) -> int | None:
    kind, _, value = (channel or "").partition(":")
    return int(value) if kind == "dm" and value.isdigit() else None
