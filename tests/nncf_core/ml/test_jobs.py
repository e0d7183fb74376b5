from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import TypeVar

import pytest
from sqlalchemy import func, select, update

from nncf_core.db.engine import Database
from nncf_core.db.models import JOB_STATUSES, TrainingJob, utcnow
from nncf_core.errors import InvalidInput, JobAlreadyQueued
from nncf_core.ml import jobs

T = TypeVar("T")


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


def race(n: int, fn: Callable[[int], T]) -> list[T | BaseException]:
    """Run ``fn(i)`` in ``n`` threads released at the same moment; results or errors."""
    barrier = threading.Barrier(n)
    results: list[T | BaseException] = [RuntimeError("did not run")] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fn(i)
        except BaseException as error:
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def add_queued(db: Database, count: int) -> list[int]:
    """Queued jobs inserted directly (enqueue itself refuses a second one)."""
    with db.session() as session:
        rows = [TrainingJob(trigger="admin", status="queued") for _ in range(count)]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def count_jobs(db: Database) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(TrainingJob)) or 0


def test_statuses_are_partitioned() -> None:
    assert set(jobs.ACTIVE_STATUSES) | set(jobs.FINAL_STATUSES) == set(JOB_STATUSES)


def test_enqueue_refuses_a_second_job_until_the_first_finishes(db: Database) -> None:
    first = jobs.enqueue(db, "admin", "discord:1", config={"epochs": 2}, notify_channel="c")
    assert (first.status, first.config, first.notify_channel) == ("queued", {"epochs": 2}, "c")
    with pytest.raises(JobAlreadyQueued) as refused:
        jobs.enqueue(db, "schedule", "scheduler")
    assert (refused.value.job_id, refused.value.status) == (first.id, "queued")
    claimed = jobs.claim_next(db, "w1")
    assert claimed is not None and claimed.id == first.id
    with pytest.raises(JobAlreadyQueued, match="already running"):
        jobs.enqueue(db, "threshold", "scheduler")
    jobs.finish(db, first.id, "succeeded", message="ok")
    second = jobs.enqueue(db, "threshold", "scheduler")
    assert second.id != first.id
    assert count_jobs(db) == 2


def test_unknown_trigger_is_refused(db: Database) -> None:
    with pytest.raises(InvalidInput, match="trigger"):
        jobs.enqueue(db, "cron", None)
    assert count_jobs(db) == 0


def test_concurrent_enqueues_make_one_job(db: Database) -> None:
    results = race(4, lambda i: jobs.enqueue(db, "admin", f"discord:{i}"))
    made = [r for r in results if isinstance(r, TrainingJob)]
    refused = [r for r in results if isinstance(r, JobAlreadyQueued)]
    assert (len(made), len(refused)) == (1, 3), results
    assert count_jobs(db) == 1


def test_start_job_runs_at_once_unless_another_is_running(db: Database) -> None:
    queued = jobs.enqueue(db, "admin", "discord:1")
    started = jobs.start_job(db, "cli", "cli", worker="here:1")
    assert (started.status, started.worker) == ("running", "here:1")
    assert started.started_at is not None and started.heartbeat_at is not None
    with pytest.raises(JobAlreadyQueued) as refused:
        jobs.start_job(db, "cli", "cli")
    assert refused.value.job_id == started.id
    assert jobs.get_job(db, queued.id).status == "queued"  # type: ignore[union-attr]


def test_claim_next_takes_the_oldest_then_none(db: Database) -> None:
    ids = add_queued(db, 2)
    first = jobs.claim_next(db, "w1")
    assert first is not None
    assert (first.id, first.status, first.worker) == (ids[0], "running", "w1")
    assert first.started_at is not None
    second = jobs.claim_next(db, "w2")
    assert second is not None and second.id == ids[1]
    assert jobs.claim_next(db, "w3") is None


def test_two_concurrent_claimers_claim_one_job_exactly_once(db: Database) -> None:
    add_queued(db, 1)
    results = race(2, lambda i: jobs.claim_next(db, f"w{i}"))
    assert not [r for r in results if isinstance(r, BaseException)], results
    claimed = [r for r in results if r is not None]
    assert len(claimed) == 1
    with db.session() as session:
        row = session.scalars(select(TrainingJob)).one()
    assert (row.status, row.worker) == ("running", claimed[0].worker)  # type: ignore[union-attr]


def test_several_claimers_share_a_queue_without_duplicates(db: Database) -> None:
    ids = add_queued(db, 8)

    def drain(i: int) -> list[int]:
        mine = []
        while (job := jobs.claim_next(db, f"w{i}")) is not None:
            mine.append(job.id)
        return mine

    results = race(3, drain)
    assert not [r for r in results if isinstance(r, BaseException)], results
    claimed = [job_id for batch in results for job_id in batch]  # type: ignore[union-attr]
    assert sorted(claimed) == ids


def test_claim_a_given_job(db: Database) -> None:
    (job_id,) = add_queued(db, 1)
    assert jobs.claim(db, job_id, "w1").status == "running"
    assert jobs.claim(db, job_id, "w2").worker == "w1"  # already running: returned as is
    jobs.finish(db, job_id, "failed", error="boom")
    with pytest.raises(InvalidInput, match="is failed"):
        jobs.claim(db, job_id)
    with pytest.raises(InvalidInput, match="no training job"):
        jobs.claim(db, 999)


def test_heartbeat_only_for_running_jobs(db: Database) -> None:
    (job_id,) = add_queued(db, 1)
    assert jobs.heartbeat(db, job_id) is False
    claimed = jobs.claim_next(db, "w1")
    assert claimed is not None
    assert jobs.heartbeat(db, job_id) is True
    after = jobs.get_job(db, job_id)
    assert after is not None and after.heartbeat_at >= claimed.heartbeat_at  # type: ignore[operator]
    jobs.finish(db, job_id, "succeeded")
    assert jobs.heartbeat(db, job_id) is False


def set_heartbeat(db: Database, job_id: int, age: timedelta) -> None:
    with db.session() as session:
        session.execute(
            update(TrainingJob).where(TrainingJob.id == job_id).values(heartbeat_at=utcnow() - age)
        )


def test_fail_stale_fails_only_silent_workers(db: Database) -> None:
    stale, fresh, waiting = add_queued(db, 3)
    jobs.claim(db, stale, "host:11")
    jobs.claim(db, fresh, "host:12")
    set_heartbeat(db, stale, timedelta(minutes=10))
    failed = jobs.fail_stale(db, older_than_s=300)
    assert [job.id for job in failed] == [stale]
    row = jobs.get_job(db, stale)
    assert row is not None and row.status == "failed" and row.finished_at is not None
    assert row.error is not None
    assert row.error.startswith("worker died: no heartbeat since ")
    assert "host:11" in row.error
    assert jobs.get_job(db, fresh).status == "running"  # type: ignore[union-attr]
    assert jobs.get_job(db, waiting).status == "queued"  # type: ignore[union-attr]
    assert jobs.fail_stale(db, older_than_s=300) == []
    # A failed job's worker learns it from its next heartbeat.
    assert jobs.heartbeat(db, stale) is False


def test_finish_records_the_outcome(db: Database) -> None:
    job = jobs.start_job(db, "cli", "cli")
    done = jobs.finish(
        db, job.id, "rejected", message="worse", metrics={"new": 1.0}, model_version_id=None
    )
    assert (done.status, done.message, done.metrics) == ("rejected", "worse", {"new": 1.0})
    assert done.finished_at is not None
    assert jobs.latest_job(db).id == job.id  # type: ignore[union-attr]
    assert jobs.active_job(db) is None
    assert [j.id for j in jobs.list_jobs(db)] == [job.id]
    with pytest.raises(ValueError):
        jobs.finish(db, job.id, "queued")


def test_outcomes_are_notified_once(db: Database) -> None:
    silent = jobs.start_job(db, "cli", "cli")
    jobs.finish(db, silent.id, "succeeded")
    asked = jobs.enqueue(db, "admin", "discord:1", notify_channel="channel:5")
    assert jobs.pending_notifications(db) == []  # not finished yet
    jobs.claim(db, asked.id)
    jobs.finish(db, asked.id, "rejected", message="worse")
    assert [job.id for job in jobs.pending_notifications(db)] == [asked.id]
    assert jobs.mark_notified(db, asked.id) is True
    assert jobs.mark_notified(db, asked.id) is False
    assert jobs.pending_notifications(db) == []
