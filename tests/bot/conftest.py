"""Fixtures of the bot suite: the data slice (per session) and a running bot (per module)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.bot.data import TINY_TRAIN, BotData, build
from tests.bot.harness import BotHarness
from tests.conftest import MOVIELENS_SMALL


@pytest.fixture(scope="session")
def bot_data(tmp_path_factory: pytest.TempPathFactory) -> BotData:
    if not (MOVIELENS_SMALL / "ratings.csv").exists():
        pytest.skip(f"MovieLens small is not at {MOVIELENS_SMALL}")
    return build(MOVIELENS_SMALL, tmp_path_factory.mktemp("bot-data"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def harness(
    bot_data: BotData, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[BotHarness]:
    """One bot per test module, on a private copy of the data."""
    url, model_dir = bot_data.copy_to(tmp_path_factory.mktemp("bot"))
    running = await BotHarness.start(url, model_dir, train_config=TINY_TRAIN)
    try:
        yield running
    finally:
        await running.stop()
