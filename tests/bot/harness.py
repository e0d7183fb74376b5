"""The real bot connected to a :class:`FakeDiscord`, in the running event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.bot import NNCFBot
from nncf_core.app import Core
from nncf_core.db.models import Rating, User
from nncf_core.ml.config import TrainConfig
from nncf_core.settings import Settings
from tests.bot.fake_discord import FakeDiscord, FakeUser, Interaction

log = logging.getLogger(__name__)


def bot_settings(
    fake: FakeDiscord, database_url: str, model_dir: Path, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "model_dir": model_dir,
        "discord_token": fake.token,
        "discord_api_base": fake.api_base,
        "discord_gateway_url": fake.gateway_url,
        "discord_dev_guild_ids": [fake.guild_id],
        "admin_user_ids": [],
        "retrain_check_minutes": 600.0,
        "training_runner": "inprocess",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def bot_env(fake: FakeDiscord, database_url: str, model_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for an ``nncf-bot`` process talking to ``fake`` (this process's own
    DISCORD_* and SHARD_* variables left out)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "SHARD_"))}
    env.update(
        DATABASE_URL=database_url,
        MODEL_DIR=str(model_dir),
        DISCORD_TOKEN=fake.token,
        DISCORD_API_BASE=fake.api_base,
        DISCORD_GATEWAY_URL=fake.gateway_url,
        TRAINING_RUNNER="inprocess",
    )
    env.update(extra)
    return env


class BotHarness:
    """Start the fake, then the bot against it; talk to the bot as Discord users would."""

    def __init__(self, fake: FakeDiscord, bot: NNCFBot, core: Core) -> None:
        self.fake = fake
        self.bot = bot
        self.core = core
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def start(
        cls,
        database_url: str,
        model_dir: Path,
        *,
        train_config: TrainConfig | None = None,
        settings: dict[str, Any] | None = None,
        fake: FakeDiscord | None = None,
    ) -> BotHarness:
        """``fake``: a prepared (not yet started) fake Discord, e.g. with several guilds."""
        fake = fake or FakeDiscord()
        await fake.start()
        config = bot_settings(fake, database_url, model_dir, **(settings or {}))
        core = await asyncio.to_thread(Core, config)
        bot = NNCFBot(config, core, train_config=train_config, guild_ready_timeout=0.05)
        harness = cls(fake, bot, core)
        harness._task = asyncio.create_task(bot.start(fake.token))
        try:
            connected = asyncio.ensure_future(fake.wait_connected(timeout=60))
            await asyncio.wait({connected, harness._task}, return_when=asyncio.FIRST_COMPLETED)
            if harness._task.done():
                connected.cancel()
                harness._task.result()  # the bot failed to start: raise why
                raise RuntimeError("the bot stopped before connecting")
            await connected
            await asyncio.wait_for(bot.wait_until_ready(), 30)
        except BaseException:
            await harness.stop()
            raise
        return harness

    async def stop(self) -> None:
        await self.bot.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self.fake.close()
        self.core.close()

    # ----------------------------------------------------------- conversations

    def user(self, name: str, *, admin: bool = False) -> FakeUser:
        return self.fake.make_user(name, admin=admin)

    async def run(
        self, name: str, user: FakeUser, **options: Any
    ) -> tuple[Interaction, dict[str, Any]]:
        """A slash command and the message the user ends up seeing."""
        record = await self.fake.slash(name, user, **options)
        return record, await self.fake.answer(record)

    async def click(
        self,
        message: dict[str, Any],
        custom_id: str,
        user: FakeUser,
        values: list[str] | None = None,
    ) -> tuple[Interaction, dict[str, Any]]:
        record = await self.fake.click(message, custom_id, user, values=values)
        return record, await self.fake.answer(record)

    async def choices(
        self, name: str, user: FakeUser, focused: str, **options: Any
    ) -> list[dict[str, Any]]:
        record = await self.fake.autocomplete(name, user, focused, **options)
        answer = await self.fake.answer(record)
        return list(answer["choices"])

    async def eventually(self, predicate: Any, timeout: float = 30.0) -> None:
        """Poll ``predicate`` (bot-side state that the fake does not see change)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"still false after {timeout} s: {predicate}")
            await asyncio.sleep(0.05)

    # ------------------------------------------------------------- database

    def stored_ratings(self, user: FakeUser) -> dict[int, float]:
        with self.core.db.session() as session:
            rows = session.execute(
                select(Rating.movie_id, Rating.stars)
                .join(User, User.id == Rating.user_id)
                .where(User.discord_id == user.id)
            ).all()
        return {movie: stars for movie, stars in rows}
