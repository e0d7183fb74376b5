"""`nncf-bot run` and `nncf-bot sync` as real processes against the fake Discord, and the
pieces that point discord.py at it."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from bot.bot import gateway_rewriter, intents
from nncf_core.cli import main
from nncf_core.db.engine import Database
from nncf_core.db.models import TrainingJob, utcnow
from nncf_core.ml import jobs
from tests.bot.data import BotData
from tests.bot.fake_discord import FakeDiscord
from tests.bot.harness import bot_env

NNCF_BOT = Path(sys.executable).with_name("nncf-bot")


def test_gateway_urls_of_discord_are_rewritten_and_others_kept() -> None:
    rewrite = gateway_rewriter("ws://127.0.0.1:9999/gateway")
    assert (
        rewrite("wss://gateway.discord.gg/?v=10&encoding=json&compress=zlib-stream")
        == "ws://127.0.0.1:9999/gateway?v=10&encoding=json&compress=zlib-stream"
    )
    assert rewrite("wss://gateway-us-east1-b.discord.gg?v=10").startswith("ws://127.0.0.1:9999")
    assert rewrite("wss://eu-west123.discord.media/?v=8") == "wss://eu-west123.discord.media/?v=8"


def test_no_privileged_intents() -> None:
    value = intents()
    assert value.guilds
    assert not (value.members or value.presences or value.message_content)


def test_run_without_a_token_explains(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    assert cli(["run"]) == 1
    assert "DISCORD_TOKEN is not set" in capsys.readouterr().err


def cli(args: list[str]) -> int | str | None:
    """The CLI's exit status (typer ends a successful command with SystemExit(0))."""
    try:
        return main(args)
    except SystemExit as done:
        return done.code


async def _nncf_bot(*args: str, env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        str(NNCF_BOT),
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def test_run_serves_and_stops_cleanly_on_sigterm(bot_data: BotData, tmp_path: Path) -> None:
    url, model_dir = bot_data.copy_to(tmp_path)
    db = Database(url)
    stale = jobs.start_job(db, "cli", "a crashed process", worker="gone:1")
    finished = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await finished.wait()
    with db.session() as session:
        row = session.get(TrainingJob, stale.id)
        assert row is not None
        row.heartbeat_at = utcnow() - timedelta(hours=1)
        # Claimed a moment ago by a bot on this machine that has died since.
        orphan = TrainingJob(
            trigger="admin",
            status="running",
            worker=f"{socket.gethostname()}:{finished.pid}:bot",
            started_at=utcnow(),
            heartbeat_at=utcnow(),
        )
        session.add(orphan)
        session.flush()
        orphan_id = orphan.id
    fake = FakeDiscord()
    await fake.start()
    process = await _nncf_bot(
        "run", env=bot_env(fake, url, model_dir, LOG_LEVEL="INFO"), cwd=tmp_path
    )
    try:
        await fake.wait_connected(timeout=90)
        user = fake.make_user("cli-user")
        record = await fake.slash("rate", user, movie="Toy Story", stars=4.0)
        answer = await fake.answer(record, timeout=30)
        assert "Rated **Toy Story (1995)**" in answer["content"]
        # Without DISCORD_DEV_GUILD_IDS nothing is synced at start.
        assert fake.sync_calls == []
        assert fake.identify_payloads[0]["intents"] == intents().value
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 60) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await fake.close()
    assert process.stdout is not None
    log = (await process.stdout.read()).decode()
    assert "stop signal received" in log and "database closed" in log, log[-2000:]
    job = jobs.get_job(db, stale.id)
    assert job is not None and job.status == "failed" and "no heartbeat" in (job.error or "")
    job = jobs.get_job(db, orphan_id)
    assert job is not None and job.status == "failed" and "is gone" in (job.error or "")
    db.dispose()


async def test_sync_registers_commands_globally_or_per_guild(
    bot_data: BotData,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, model_dir = bot_data.copy_to(tmp_path)
    fake = FakeDiscord()
    await fake.start()
    monkeypatch.chdir(tmp_path)
    for key, value in bot_env(fake, url, model_dir, LOG_LEVEL="INFO").items():
        monkeypatch.setenv(key, value)
    try:
        # The CLI runs its own event loop: give it a thread, the fake keeps this one.
        assert await asyncio.to_thread(cli, ["sync"]) == 0
        assert "synced 11 commands globally" in capsys.readouterr().out
        assert fake.sync_calls == [None]
        names = {c["name"] for c in fake.commands[None]}
        assert names == {
            "rate",
            "unrate",
            "ratings",
            "movie",
            "recommend",
            "similar",
            "start",
            "export",
            "forget-me",
            "retrain",
            "status",
        }
        rate = next(c for c in fake.commands[None] if c["name"] == "rate")
        stars = next(o for o in rate["options"] if o["name"] == "stars")
        assert (stars["min_value"], stars["max_value"]) == (0.5, 5.0)
        movie = next(o for o in rate["options"] if o["name"] == "movie")
        assert movie["autocomplete"] is True and movie["required"] is True
        assert await asyncio.to_thread(cli, ["sync", "--guild", str(fake.guild_id)]) == 0
        assert f"in guild(s) {fake.guild_id}" in capsys.readouterr().out
        assert fake.sync_calls == [None, fake.guild_id]
        assert not fake.identify_payloads  # syncing needs no gateway connection
    finally:
        await fake.close()
