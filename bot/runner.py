"""Starting and stopping the bot: ``run_bot(settings)`` and ``sync_commands``.

Shutdown on SIGINT or SIGTERM is orderly: the gateway connection closes, the
background loops stop, a running training process is interrupted (its job is
recorded as failed, not left "running"), the worker threads finish, and the
database is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

import discord

from bot.bot import NNCFBot
from nncf_core.app import Core
from nncf_core.errors import InvalidInput
from nncf_core.settings import Settings

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _token(settings: Settings) -> str:
    if settings.discord_token is None:
        raise InvalidInput("DISCORD_TOKEN is not set.")
    return settings.discord_token.get_secret_value()


def run_bot(settings: Settings, **bot_options: Any) -> None:
    """Run the bot until SIGINT or SIGTERM (blocking)."""
    asyncio.run(serve(settings, **bot_options))


async def serve(settings: Settings, **bot_options: Any) -> None:
    token = _token(settings)
    core = await asyncio.to_thread(Core, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    bot = NNCFBot(settings, core, **{"freeze_heap": True, **bot_options})
    try:
        async with bot:
            runner = asyncio.create_task(bot.start(token), name="nncf-bot")
            stopper = asyncio.create_task(stop.wait(), name="nncf-stop")
            done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if runner in done:
                _raise_start_failure(runner)
            else:
                log.info("stop signal received")
            await bot.close()
            runner.cancel()
            stopper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
        await bot.close()
        core.close()
        log.info("database closed")


def _raise_start_failure(task: asyncio.Task[None]) -> None:
    error = task.exception()
    if error is not None:
        raise _explained(error)


def _explained(error: BaseException) -> BaseException:
    if isinstance(error, discord.LoginFailure):
        explained = InvalidInput(
            "Discord refused the bot token (DISCORD_TOKEN); copy it again from the "
            "Developer Portal's Bot page."
        )
        explained.__cause__ = error
        return explained
    return error


def sync_commands(settings: Settings, guild_ids: list[int] | None = None) -> list[str]:
    """Register the slash commands globally, or in ``guild_ids``; returns their names."""
    return asyncio.run(_sync(settings, guild_ids or []))


async def _sync(settings: Settings, guild_ids: list[int]) -> list[str]:
    token = _token(settings)
    core = await asyncio.to_thread(Core, settings)
    try:
        async with NNCFBot(settings, core, background=False) as bot:
            # REST only: the commands are built by the extensions in setup_hook,
            # which login runs; no gateway connection is needed.
            try:
                await bot.login(token)
            except discord.LoginFailure as error:
                raise _explained(error) from error
            if not guild_ids:
                synced = await bot.tree.sync()
            for guild_id in guild_ids:
                guild = discord.Object(id=guild_id)
                bot.tree.copy_global_to(guild=guild)
                synced = await bot.tree.sync(guild=guild)
            return sorted(command.name for command in synced)
    finally:
        core.close()
