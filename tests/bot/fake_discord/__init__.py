"""A fake Discord (REST + gateway) on loopback, for end-to-end tests of the real bot."""

from tests.bot.fake_discord.server import (
    Call,
    FakeDiscord,
    FakeUser,
    Interaction,
    custom_ids,
    find_component,
)

__all__ = ["Call", "FakeDiscord", "FakeUser", "Interaction", "custom_ids", "find_component"]
