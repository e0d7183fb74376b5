"""Answering interactions the same way everywhere: ephemeral, deferred when work is slow.

Every handler that touches the database or the model calls :func:`defer`
first (the 3-second acknowledgement then never depends on how busy the
database is), does its work on the bot's thread pool, and finishes with
:func:`reply`, which edits the deferred response.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import discord
from discord import app_commands

from nncf_core.services.users import UserKey

if TYPE_CHECKING:
    from bot.bot import NNCFBot

MAX_CHOICES = 25
MAX_CHOICE_NAME = 100
MAX_EMBED_DESCRIPTION = 4096


def bot_of(interaction: discord.Interaction[Any]) -> NNCFBot:
    return cast("NNCFBot", interaction.client)


def user_key(interaction: discord.Interaction[Any]) -> UserKey:
    return UserKey.discord(interaction.user.id)


async def defer(interaction: discord.Interaction[Any], *, update: bool = False) -> None:
    """Acknowledge now: "thinking…" for commands, a silent update for components
    whose message is about to be edited (``update=True``)."""
    if interaction.response.is_done():
        return
    if update:
        await interaction.response.defer()
    else:
        await interaction.response.defer(ephemeral=True, thinking=True)


async def reply(
    interaction: discord.Interaction[Any],
    content: str | None = None,
    *,
    embed: discord.Embed | None = None,
    view: discord.ui.View | None = None,
    file: discord.File | None = None,
) -> None:
    """Send (or, after :func:`defer`, fill in) the interaction's one ephemeral answer."""
    if not interaction.response.is_done():
        kwargs: dict[str, Any] = {"embed": embed, "ephemeral": True}
        if view is not None:
            kwargs["view"] = view
        if file is not None:
            kwargs["file"] = file
        await interaction.response.send_message(content, **kwargs)
        return
    await interaction.edit_original_response(
        content=content,
        embed=embed,
        view=view,
        attachments=[file] if file is not None else discord.utils.MISSING,
    )


def choice(label: str, value: str) -> app_commands.Choice[str]:
    return app_commands.Choice(name=label[:MAX_CHOICE_NAME], value=value)


async def movie_autocomplete(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    """Up to 25 "Title (Year)" choices whose value is the movie id, from memory."""
    catalog = bot_of(interaction).core.catalog
    return [choice(label, value) for label, value in catalog.autocomplete(current, MAX_CHOICES)]


def stars_glyphs(stars: float) -> str:
    """``4.5`` -> ``"★★★★½"``."""
    whole = int(stars)
    return "★" * whole + ("½" if stars - whole >= 0.5 else "")


def stars_text(stars: float) -> str:
    """``4.5`` -> ``"★★★★½ 4.5"``."""
    return f"{stars_glyphs(stars)} {stars:g}"


def escape(text: str) -> str:
    """A title or user text made inert for Discord markdown (mentions cannot ping:
    the bot's AllowedMentions forbid them everywhere)."""
    return discord.utils.escape_markdown(text)
