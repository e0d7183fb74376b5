"""The bot: a discord.py client over one :class:`~nncf_core.app.Core`.

Design rules every extension follows:

- Database, model and file work never runs on the event loop: it goes through
  :meth:`NNCFBot.run_sync`, a bounded thread pool, so the gateway heartbeat and
  every other interaction keep flowing while a slow query or an inference runs.
- Training never runs in this process at all (see :mod:`bot.training`).
- No privileged intents: slash commands and components arrive as
  INTERACTION_CREATE, which needs none (``guilds`` only keeps the guild cache).
- Nothing the bot says can ping anyone: ``AllowedMentions.none()`` is the
  client-wide default, which every response and follow-up inherits.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import discord
import yarl
from discord.ext import commands
from sqlalchemy import select

from bot.errors import NNCFTree
from bot.exts import EXTENSIONS
from bot.training import TrainingService
from bot.views import DYNAMIC_ITEMS
from nncf_core.app import Core
from nncf_core.db.engine import Database
from nncf_core.db.models import Rating, User
from nncf_core.errors import InvalidInput, NNCFError
from nncf_core.ml.config import TrainConfig
from nncf_core.services.users import UserKey
from nncf_core.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_WORKERS = 8
"""Threads for blocking work. Enough to overlap database round trips and inference on a
small machine; more would only queue on the database's connection pool."""

_DISCORD_GATEWAY_HOSTS = ("gateway.discord.gg",)


def intents() -> discord.Intents:
    """The bot's intents: ``guilds`` only, nothing privileged."""
    value = discord.Intents.none()
    value.guilds = True
    return value


def use_api_base(base: str) -> None:
    """Send every REST call (including interaction callbacks and webhooks) to ``base``.

    discord.py builds each URL from the class attribute ``Route.BASE`` (it sets
    it itself when the API version changes), so this is process-wide.
    """
    discord.http.Route.BASE = base.rstrip("/")


def gateway_rewriter(configured: str) -> Callable[[str], str]:
    """Map Discord's own gateway URLs to ``configured``, keeping the query (version,
    encoding, compression) that discord.py adds; other URLs (voice) pass unchanged."""
    target = yarl.URL(configured)

    def rewrite(url: str) -> str:
        parsed = yarl.URL(url)
        host = parsed.host or ""
        if host in _DISCORD_GATEWAY_HOSTS or (
            host.startswith("gateway-") and host.endswith(".discord.gg")
        ):
            return str(target.update_query(parsed.query))
        return url

    return rewrite


def _some_rater(db: Database) -> UserKey | None:
    row = db.read(
        lambda session: session.execute(
            select(User.discord_id, User.external_id).join(Rating).limit(1)
        ).first()
    )
    if row is None:
        return None
    return UserKey(discord_id=row[0]) if row[0] is not None else UserKey(external_id=row[1])


def warm_up(core: Core) -> None:
    """Load the active model and serve each kind of request once before going online.

    The recommender's compiled kernels are loaded (or compiled) by numba on their
    first call, holding the GIL for up to a second: paid here, that stall cannot
    delay the acknowledgement of the first users' interactions.
    """
    started = time.perf_counter()
    recommender = core.recommender
    recommender.refresh()
    popular = recommender.popular(1)
    rater = _some_rater(core.db)
    calls: list[Callable[[], object]] = []
    if rater is not None:
        calls.append(lambda: recommender.recommend(rater, 1))
    if popular:
        calls.append(lambda: recommender.similar(popular[0].movie.id, 1))
    for call in calls:
        try:
            call()
        except NNCFError as error:  # no model yet, a movie it does not know: fine
            log.debug("warm-up request refused: %s", error)
    log.info("recommender warmed up in %.2f s", time.perf_counter() - started)


class NNCFBot(commands.AutoShardedBot):
    """The nncf-bot Discord client.

    ``background=False`` builds the command tree only (``nncf-bot sync``): no
    retraining loop, no training process, no job notifications.
    ``train_config`` overrides the training configuration of the jobs this bot
    queues (tests use a tiny one). ``freeze_heap`` (for the bot's own process, as
    ``run_bot`` does) moves everything alive after start-up out of the garbage
    collector's reach.
    """

    def __init__(
        self,
        settings: Settings,
        core: Core,
        *,
        background: bool = True,
        train_config: TrainConfig | None = None,
        workers: int = DEFAULT_WORKERS,
        freeze_heap: bool = False,
        **options: Any,
    ) -> None:
        if settings.shard_ids and settings.shard_count is None:
            raise InvalidInput("SHARD_IDS needs SHARD_COUNT (the total number of shards).")
        super().__init__(
            command_prefix=commands.when_mentioned,
            help_command=None,
            intents=intents(),
            tree_cls=NNCFTree,
            allowed_mentions=discord.AllowedMentions.none(),
            shard_count=settings.shard_count,
            shard_ids=settings.shard_ids or None,
            **options,
        )
        self.settings = settings
        self.core = core
        self.background = background
        self.train_config = train_config
        self.freeze_heap = freeze_heap
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="nncf-work")
        self.training = TrainingService(self)
        if settings.discord_gateway_url:
            self._route_gateway(settings.discord_gateway_url)

    def _route_gateway(self, url: str) -> None:
        # discord.py takes the gateway URL from GET /gateway/bot when it picks the
        # shard count, and otherwise (and after an invalidated session) uses its
        # built-in wss://gateway.discord.gg; both go through http.ws_connect.
        rewrite = gateway_rewriter(url)
        http = self.http
        fetch_gateway = http.get_bot_gateway
        connect = http.ws_connect

        async def get_bot_gateway() -> tuple[int, str, Any]:
            shards, _announced, limits = await fetch_gateway()
            return shards, url, limits

        async def ws_connect(target: str, *, compress: int = 0) -> Any:
            return await connect(rewrite(target), compress=compress)

        http.get_bot_gateway = get_bot_gateway  # type: ignore[method-assign]
        http.ws_connect = ws_connect  # type: ignore[method-assign]

    async def run_sync(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run blocking ``fn`` on the bot's thread pool and await its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    async def login(self, token: str) -> None:
        use_api_base(self.settings.discord_api_base)
        await super().login(token)

    async def setup_hook(self) -> None:
        # Autocomplete must answer from memory, so the catalogue is loaded before
        # the first interaction can arrive.
        await self.run_sync(self.core.catalog.refresh)
        self.add_dynamic_items(*DYNAMIC_ITEMS)
        for name in EXTENSIONS:
            await self.load_extension(name)
        if self.background:
            await self.run_sync(warm_up, self.core)
            await self.sync_dev_guilds()
            await self.training.start()
        if self.freeze_heap:
            # The start-up heap (PyTorch, numba, the catalogue) lives as long as the
            # process: leave it out of the collector's full passes, which would otherwise
            # pause the event loop for hundreds of milliseconds while scanning it.
            gc.collect()
            gc.freeze()

    async def sync_dev_guilds(self) -> None:
        """Copy the commands to DISCORD_DEV_GUILD_IDS and sync there (instant updates);
        global commands are synced only by ``nncf-bot sync``."""
        for guild_id in self.settings.discord_dev_guild_ids:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to dev guild %d", len(synced), guild_id)

    async def close(self) -> None:
        if self.is_closed():
            return
        log.info("shutting down")
        await super().close()
        await self.training.stop()
        await asyncio.to_thread(self.executor.shutdown, True, cancel_futures=True)
        log.info("bot closed")

    async def on_ready(self) -> None:
        assert self.user is not None
        log.info(
            "connected as %s (id %d) to %d guild(s), %d shard(s)",
            self.user,
            self.user.id,
            len(self.guilds),
            self.shard_count or 1,
        )
