"""The training worker, and the trainer killed with SIGKILL mid-training or mid-write."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from nncf_core.db.engine import Database
from nncf_core.ml import jobs
from nncf_core.ml.registry import active_version, list_versions
from nncf_core.ml.worker import run_worker
from tests.nncf_core.ml.registry_data import TINY_TRAIN, seed_ratings


def _seeded(url: str) -> Iterator[Database]:
    database = Database(url)
    seed_ratings(database)
    yield database
    database.dispose()


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    yield from _seeded(db_url)


@pytest.fixture
def sqlite_db(sqlite_url: str) -> Iterator[Database]:
    # Killing a process is not database-specific; one backend keeps the suite fast.
    yield from _seeded(sqlite_url)


def test_worker_runs_queued_jobs_in_order_and_fails_stale_ones(
    db: Database, tmp_path: Path
) -> None:
    model_dir = tmp_path / "models"
    first = jobs.enqueue(db, "admin", "discord:1", config=TINY_TRAIN.as_dict())
    assert run_worker(db, model_dir, max_jobs=1, poll_s=0.01) == 1
    assert jobs.get_job(db, first.id).status == "succeeded"  # type: ignore[union-attr]
    active = active_version(db)
    assert active is not None and active.training_job_id == first.id

    # A job whose worker vanished: running, with a heartbeat long ago.
    orphan = jobs.enqueue(db, "schedule", "scheduler", config=TINY_TRAIN.as_dict())
    assert jobs.claim_next(db, "ghost:1") is not None
    assert run_worker(db, model_dir, max_jobs=0, stale_after_s=0.0) == 0
    time.sleep(0.05)
    jobs.fail_stale(db, 0.01)
    failed = jobs.get_job(db, orphan.id)
    assert (
        failed is not None and failed.status == "failed" and "no heartbeat" in (failed.error or "")
    )


def _train_and_die(url: str, model_dir: str, job_id: int, during: str) -> None:
    """Child process: run a job and SIGKILL itself inside training or inside the write."""
    import torch

    from nncf_core.ml import retrain as retrain_module
    from nncf_core.ml import train as train_module

    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    if during == "training":
        real = train_module.train_model

        def train_then_die(*args, **kwargs):  # type: ignore[no-untyped-def]
            kwargs["on_epoch"] = lambda _stats: die()
            return real(*args, **kwargs)

        retrain_module.train_model = train_then_die  # type: ignore[assignment]
    else:
        real_save = torch.save

        def half_save(obj, handle, *args, **kwargs):  # type: ignore[no-untyped-def]
            real_save(obj, handle, *args, **kwargs)
            handle.flush()
            handle.truncate(handle.tell() // 2)
            die()

        torch.save = half_save  # type: ignore[assignment]
    db = Database(url)
    retrain_module.retrain(db, Path(model_dir), trigger="admin", job_id=job_id)


@pytest.mark.parametrize("during", ["training", "writing"])
def test_trainer_killed_keeps_the_old_model_and_the_job_fails(
    sqlite_db: Database, tmp_path: Path, during: str
) -> None:
    db = sqlite_db
    model_dir = tmp_path / "models"
    run_worker(db, model_dir, max_jobs=0)
    jobs.enqueue(db, "cli", "test", config=TINY_TRAIN.as_dict())
    run_worker(db, model_dir, max_jobs=1, poll_s=0.01)
    before = active_version(db)
    assert before is not None
    files_before = {p.name for p in model_dir.glob("*.pt")}

    job = jobs.enqueue(db, "admin", "discord:1", config=replace(TINY_TRAIN, epochs=5).as_dict())
    child = multiprocessing.get_context("spawn").Process(
        target=_train_and_die, args=(db.url, str(model_dir), job.id, during)
    )
    child.start()
    child.join(120)
    assert child.exitcode == -signal.SIGKILL

    jobs.fail_stale(db, 0.0)
    after = jobs.get_job(db, job.id)
    assert after is not None and after.status == "failed"
    assert active_version(db).id == before.id  # type: ignore[union-attr]
    assert [v.id for v in list_versions(db)] == [before.id]
    # A half-written file may remain under a temporary name, never under a final one.
    assert {p.name for p in model_dir.glob("*.pt")} == files_before
