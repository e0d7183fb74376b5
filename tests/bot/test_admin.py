"""/retrain (permissions, the training process, the follow-up report) and /status."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from nncf_core.db.models import TrainingJob
from nncf_core.ml import jobs
from tests.bot.fake_discord.payloads import EPHEMERAL
from tests.bot.harness import BotHarness

pytestmark = pytest.mark.asyncio(loop_scope="module")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def job_count(harness: BotHarness) -> int:
    with harness.core.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(TrainingJob)) or 0)


async def test_a_member_without_manage_server_is_refused_and_nothing_is_queued(
    harness: BotHarness,
) -> None:
    before = job_count(harness)
    record, answer = await harness.run("retrain", harness.user("member"))
    assert record.callback["type"] == 4  # refused before any deferral
    assert answer["flags"] & EPHEMERAL
    assert "Manage Server" in answer["content"]
    assert job_count(harness) == before


async def test_refused_in_dms_unless_listed_as_admin(harness: BotHarness) -> None:
    # Manage Server means something only in the guild where the command is used.
    user = harness.user("dm-admin", admin=True)
    before = job_count(harness)
    record = await harness.fake.slash("retrain", user, guild_id=None)
    answer = await harness.fake.answer(record)
    assert "Manage Server" in answer["content"]
    assert job_count(harness) == before


async def test_status_before_any_admin_retrain(harness: BotHarness) -> None:
    _, answer = await harness.run("status", harness.user("watcher"))
    fields = {f["name"]: f["value"] for f in answer["embeds"][0]["fields"]}
    assert fields["Active model"].startswith("v1, trained")
    assert fields["Ratings since then"].endswith("in all)")
    assert fields["Training"].startswith("idle; last job #1 succeeded")
    assert "<t:" in fields["Next scheduled check"]


async def test_admin_retrain_runs_in_a_process_while_recommend_keeps_answering(
    harness: BotHarness,
) -> None:
    admin = harness.user("server-manager", admin=True)
    before = job_count(harness)
    record, answer = await harness.run("retrain", admin)
    assert "Queued training job #" in answer["content"]
    job_id = int(answer["content"].split("#")[1].split(".")[0])
    assert job_count(harness) == before + 1

    # A second request while the first is queued or running queues nothing.
    _, again = await harness.run("retrain", admin)
    assert f"Training job #{job_id} is already" in again["content"]
    assert job_count(harness) == before + 1

    # While the child process trains, every interaction is still acknowledged in time
    # (the fake refuses callbacks later than Discord's 3 seconds).
    answered = []
    while not record.followup_ids:
        users = [harness.user(f"busy-{len(answered)}-{i}") for i in range(3)]
        batch = await asyncio.gather(*(harness.run("recommend", u, count=5) for u in users))
        answered += [r for r, _ in batch]
        job = jobs.get_job(harness.core.db, job_id)
        assert job is not None
        if job.status in jobs.FINAL_STATUSES and len(answered) >= 6:
            await harness.fake.followups(record, 1, timeout=30)
        await asyncio.sleep(0.2)
    assert answered and all(r.late_callbacks == 0 and r.callback is not None for r in answered)
    await harness.eventually(lambda: harness.bot.training.running_job_id is None)

    (report,) = await harness.fake.followups(record, 1)
    assert report["flags"] & EPHEMERAL
    content = report["content"]
    assert f"Training job #{job_id} finished: **" in content
    assert "promoted" in content or "rejected" in content
    assert "Holdout RMSE: old 0." in content and "→ new 0." in content
    assert "Ratings used: " in content and "Duration: " in content
    (chart,) = report["attachments"]
    assert chart["filename"] == "training-curve.png"
    assert harness.fake.files[(int(report["id"]), "training-curve.png")].startswith(PNG_MAGIC)

    job = jobs.get_job(harness.core.db, job_id)
    assert job is not None and job.trigger == "admin"
    assert job.requested_by == f"discord:{admin.id}" and job.notified
    assert job.worker is not None and job.worker.endswith(":bot")
    if job.status == "succeeded":
        await harness.eventually(
            lambda: harness.core.recommender.model_version_id == job.model_version_id
        )


async def test_a_listed_admin_may_retrain_and_shutdown_interrupts_the_training(
    harness: BotHarness,
) -> None:
    # Last in the module: it closes the bot.
    user = harness.user("bot-owner")
    harness.bot.settings.admin_user_ids.append(user.id)
    try:
        record = await harness.fake.slash("retrain", user, guild_id=None)
        answer = await harness.fake.answer(record)
    finally:
        harness.bot.settings.admin_user_ids.remove(user.id)
    assert "Queued training job #" in answer["content"]
    job_id = int(answer["content"].split("#")[1].split(".")[0])
    await harness.eventually(lambda: harness.bot.training.running_job_id == job_id)
    await harness.bot.close()
    job = jobs.get_job(harness.core.db, job_id)
    assert job is not None and job.status == "failed", job and job.status
    assert job.error and any(w in job.error for w in ("interrupted", "stopped", "exited"))
    assert not record.followup_ids
