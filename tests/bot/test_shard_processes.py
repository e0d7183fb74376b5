"""Sharding across processes: two real ``nncf-bot run`` processes, SHARD_COUNT=2 with
SHARD_IDS=0 and SHARD_IDS=1, one shared database and one fake Discord.

Each process identifies only its own shard and answers only the interactions of its
guilds; a rating made through one process is read back through the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.bot.data import BotData
from tests.bot.fake_discord import FakeDiscord, FakeUser
from tests.bot.harness import bot_env
from tests.bot.test_kill import NNCF_BOT
from tests.bot.test_shards import guild_on_shard

pytestmark = pytest.mark.slow

SHARDS = 2
CONNECT_TIMEOUT_S = 90.0
"""Both processes import torch and warm the recommender up on two shared cores."""
ANSWER_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0


@dataclass
class ShardProcess:
    shard_id: int
    process: asyncio.subprocess.Process
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


async def _start(
    fake: FakeDiscord, url: str, model_dir: Path, folder: Path, shard_id: int
) -> ShardProcess:
    env = bot_env(
        fake,
        url,
        model_dir,
        SHARD_COUNT=str(SHARDS),
        SHARD_IDS=str(shard_id),
        LOG_LEVEL="INFO",
        # No training in these processes: jobs would belong to a worker.
        TRAINING_RUNNER="worker",
        RETRAIN_CHECK_MINUTES="600",
    )
    log_path = folder / f"shard-{shard_id}.log"
    with log_path.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            str(NNCF_BOT),
            "run",
            env=env,
            cwd=folder,
            stdout=log_file,
            stderr=asyncio.subprocess.STDOUT,
        )
    return ShardProcess(shard_id, process, log_path)


async def _stop(shard: ShardProcess) -> None:
    """SIGTERM (the bot's clean shutdown), SIGKILL if it does not finish in time."""
    process = shard.process
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()


@contextlib.asynccontextmanager
async def two_processes(
    fake: FakeDiscord, bot_data: BotData, folder: Path
) -> AsyncIterator[list[ShardProcess]]:
    url, model_dir = bot_data.copy_to(folder)
    await fake.start()
    shards: list[ShardProcess] = []
    try:
        for shard_id in range(SHARDS):
            shards.append(await _start(fake, url, model_dir, folder, shard_id))
        yield shards
    finally:
        await asyncio.gather(*(_stop(shard) for shard in shards))
        await fake.close()


def _logs(shards: list[ShardProcess]) -> str:
    return "\n".join(f"--- shard {s.shard_id}:\n{s.log()[-3000:]}" for s in shards)


async def _connected(fake: FakeDiscord, shards: list[ShardProcess]) -> None:
    def ready() -> bool:
        exited = [s for s in shards if s.process.returncode is not None]
        if exited:
            raise AssertionError(f"shard {exited[0].shard_id} exited:\n{_logs(shards)}")
        return fake.ready_shards == list(range(SHARDS))

    # The predicate only runs when the fake records something: poll for exits too.
    deadline = asyncio.get_running_loop().time() + CONNECT_TIMEOUT_S
    while not ready():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"shards connected: {fake.ready_shards}\n{_logs(shards)}")
        with contextlib.suppress(TimeoutError):
            await fake.wait_for(ready, timeout=1.0)


async def _answer(fake: FakeDiscord, name: str, user: FakeUser, guild: int, **options: Any) -> Any:
    record = await fake.slash(name, user, guild_id=guild, **options)
    return record, await fake.answer(record, timeout=ANSWER_TIMEOUT_S)


async def test_one_process_per_shard_share_the_database(bot_data: BotData, tmp_path: Path) -> None:
    guilds = [guild_on_shard(shard, SHARDS) for shard in range(SHARDS)]
    fake = FakeDiscord(guild_ids=tuple(guilds))
    async with two_processes(fake, bot_data, tmp_path) as shards:
        await _connected(fake, shards)
        # Each process identified once, for its own shard only.
        identified = sorted(tuple(payload["shard"]) for payload in fake.identify_payloads)
        assert identified == [(shard, SHARDS) for shard in range(SHARDS)], _logs(shards)

        # An interaction in each guild reaches the connection of that guild's shard and
        # is answered; the refused probe shows which process handled it (its log).
        probes = [fake.make_user(f"probe-{shard}") for shard in range(SHARDS)]
        for shard, guild in enumerate(guilds):
            record, answer = await _answer(
                fake, "rate", probes[shard], guild, movie="zzqx no such film", stars=3
            )
            assert record.shard_id == shard
            assert "No movie matches" in answer["content"], answer
            assert answer["guild_id"] == str(guild)

        rater, other = fake.make_user("rater"), fake.make_user("other")
        record, answer = await _answer(fake, "rate", rater, guilds[1], movie="Toy Story", stars=4.5)
        assert record.shard_id == 1
        assert "Rated **Toy Story (1995)**" in answer["content"], answer
        record, answer = await _answer(fake, "rate", other, guilds[0], movie="Toy Story", stars=2)
        assert record.shard_id == 0
        assert "Rated **Toy Story (1995)**" in answer["content"], answer

        # Shard 1's rating, read through the process of shard 0 (and the other way round).
        record, answer = await _answer(fake, "ratings", rater, guilds[0])
        assert record.shard_id == 0
        (embed,) = answer["embeds"]
        assert embed["title"] == "Your ratings (1)", embed
        assert "Toy Story (1995)" in embed["description"]
        record, answer = await _answer(fake, "ratings", other, guilds[1])
        assert record.shard_id == 1
        (embed,) = answer["embeds"]
        assert embed["title"] == "Your ratings (1)", embed
        assert "Toy Story (1995)" in embed["description"]

        for shard in shards:
            await _stop(shard)
    logs = [shard.log() for shard in shards]
    for shard, text in zip(shards, logs, strict=True):
        assert shard.process.returncode == 0, _logs(shards)
        assert "database closed" in text, text[-3000:]
        # Its own probe was handled here, the other shard's was not.
        assert f"for user {probes[shard.shard_id].id}:" in text, text[-3000:]
        assert f"for user {probes[1 - shard.shard_id].id}:" not in text
