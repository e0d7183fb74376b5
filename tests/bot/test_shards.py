"""Sharding end to end: one bot process running SHARD_COUNT=2 against the fake Discord."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.bot import NNCFBot
from tests.bot.data import TINY_TRAIN, BotData
from tests.bot.fake_discord import FakeDiscord
from tests.bot.fake_discord import payloads as p
from tests.bot.harness import BotHarness

SHARDS = 2


def guild_on_shard(shard_id: int, shard_count: int) -> int:
    """A guild id that Discord routes to ``shard_id``: ``(guild_id >> 22) % shard_count``."""
    timestamp = p.snowflake() >> 22
    timestamp += (shard_id - timestamp) % shard_count
    return (timestamp << 22) | (1 << 17) | (shard_id + 1)


async def _no_identify_wait(self: NNCFBot, shard_id: int | None, *, initial: bool = False) -> None:
    """discord.py waits 5 s between two IDENTIFYs (Discord's rate limit, which the fake
    does not enforce); the shards identify back to back here."""


@pytest.fixture
def no_identify_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(NNCFBot, "before_identify_hook", _no_identify_wait)


@pytest.mark.usefixtures("no_identify_wait")
async def test_two_shards_identify_and_each_answers_its_own_guilds(
    bot_data: BotData, tmp_path: Path
) -> None:
    guilds = [guild_on_shard(shard, SHARDS) for shard in range(SHARDS)]
    assert [(g >> 22) % SHARDS for g in guilds] == [0, 1]
    fake = FakeDiscord(guild_ids=tuple(guilds))
    url, model_dir = bot_data.copy_to(tmp_path)
    harness = await BotHarness.start(
        url,
        model_dir,
        train_config=TINY_TRAIN,
        settings={"shard_count": SHARDS, "discord_dev_guild_ids": []},
        fake=fake,
    )
    try:
        identified = sorted(tuple(payload["shard"]) for payload in fake.identify_payloads)
        assert identified == [(0, SHARDS), (1, SHARDS)]
        bot = harness.bot
        assert bot.shard_count == SHARDS and sorted(bot.shards) == [0, 1]
        # Each shard got its own guild's GUILD_CREATE, and only that one.
        for shard, guild_id in enumerate(guilds):
            guild = bot.get_guild(guild_id)
            assert guild is not None and guild.shard_id == shard

        for shard, guild_id in enumerate(guilds):
            user = harness.user(f"shard-{shard}-user")
            record = await fake.slash("rate", user, guild_id=guild_id, movie="Toy Story", stars=4.5)
            assert record.shard_id == shard
            answer = await fake.answer(record, timeout=30)
            assert "Rated **Toy Story (1995)**" in answer["content"]
            assert answer["guild_id"] == str(guild_id)
            assert harness.stored_ratings(user) == {1: 4.5}
    finally:
        await harness.stop()
