"""The one error handler of the bot, for slash commands and components alike.

Domain errors (:class:`~nncf_core.errors.NNCFError`) become their own short
message; cooldowns say when to try again; anything unexpected becomes
"Something went wrong (ref XYZ)" with the traceback logged under that
reference, so that a user's report can be matched with the log.
"""

from __future__ import annotations

import logging
import math
import secrets
from typing import Any

import discord
from discord import app_commands

from nncf_core.errors import NNCFError

log = logging.getLogger(__name__)


def _unwrap(error: BaseException) -> BaseException:
    while isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, app_commands.TransformerError) and isinstance(error.__cause__, NNCFError):
        return error.__cause__
    return error


def describe(error: BaseException) -> tuple[str, str | None]:
    """The message to show for ``error``, and a log reference when it was unexpected."""
    error = _unwrap(error)
    if isinstance(error, NNCFError):
        return str(error), None
    if isinstance(error, app_commands.CommandOnCooldown):
        wait = max(1, math.ceil(error.retry_after))
        return f"Slow down a little: try again in {wait} s.", None
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command works in a server only.", None
    if isinstance(error, app_commands.CheckFailure):
        return "You cannot use this command here.", None
    if isinstance(error, app_commands.TransformerError):
        return f"{_shorten(str(error.value))!r} is not a valid value for that option.", None
    if isinstance(error, app_commands.CommandNotFound | app_commands.CommandSignatureMismatch):
        return (
            "This command changed since Discord last loaded it; try again in a minute.",
            None,
        )
    return "Something went wrong (ref {ref}). It has been logged.", secrets.token_hex(3).upper()


def _where(interaction: discord.Interaction[Any]) -> str:
    if interaction.command is not None:
        return f"/{interaction.command.qualified_name}"
    data = interaction.data or {}
    return str(data.get("custom_id") or interaction.type.name)


async def report(interaction: discord.Interaction[Any], error: BaseException) -> None:
    """Tell the user what went wrong (ephemerally); log what they should not see."""
    message, ref = describe(error)
    original = _unwrap(error)
    if ref is not None:
        message = message.format(ref=ref)
        log.error(
            "unexpected error (ref %s) in %s for user %s",
            ref,
            _where(interaction),
            interaction.user.id,
            exc_info=original,
        )
    else:
        log.info("%s for user %s: %s", _where(interaction), interaction.user.id, message)
    await send_error(interaction, message)


async def send_error(interaction: discord.Interaction[Any], message: str) -> None:
    """Show ``message`` to the user in whatever state the interaction is in."""
    response = interaction.response
    try:
        if not response.is_done():
            await response.send_message(message, ephemeral=True)
        elif response.type is discord.InteractionResponseType.deferred_message_update:
            # The clicked message stays as it is; the error goes under it.
            await interaction.followup.send(message, ephemeral=True)
        else:
            await interaction.edit_original_response(
                content=message, embed=None, view=None, attachments=[]
            )
    except discord.HTTPException as failure:
        # Usually the interaction expired (answered too late); nobody can be told.
        log.warning("could not send an error message for %s: %s", _where(interaction), failure)


class NNCFTree(app_commands.CommandTree[Any]):
    """The command tree whose ``on_error`` is the bot's one error handler."""

    async def on_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        await report(interaction, error)


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
