"""/export (your ratings as CSV) and /forget-me (delete them, after a confirmation)."""

from __future__ import annotations

import io
import re
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.replies import bot_of, defer, reply, user_key
from bot.views import Component, new_view
from nncf_core.errors import PermissionDenied


class ForgetButton(
    Component,
    template=r"nncf:forget:(?P<user>\d{1,20}):(?P<choice>yes|no)",
):
    """Confirm or cancel /forget-me; only the user who asked can press it."""

    def __init__(self, user_id: int, choice: str) -> None:
        self.user_id = user_id
        self.choice = choice
        yes = choice == "yes"
        super().__init__(
            discord.ui.Button(
                label="Delete all my ratings" if yes else "Cancel",
                style=discord.ButtonStyle.danger if yes else discord.ButtonStyle.secondary,
                custom_id=f"nncf:forget:{user_id}:{choice}",
            )
        )

    @classmethod
    def from_match(cls, match: re.Match[str], item: discord.ui.Item[Any]) -> ForgetButton:
        return cls(int(match["user"]), match["choice"])

    async def clicked(self, interaction: discord.Interaction[Any]) -> None:
        if interaction.user.id != self.user_id:
            raise PermissionDenied("This confirmation belongs to someone else.")
        if self.choice == "no":
            await interaction.response.edit_message(
                content="Cancelled: nothing was deleted.", view=None
            )
            return
        bot = bot_of(interaction)
        await defer(interaction, update=True)
        count = await bot.run_sync(bot.core.ratings.forget, user_key(interaction))
        await reply(
            interaction,
            f"Done: deleted your {count:,} rating(s), your hidden movies and your profile. "
            "The next model trained will not know you either.",
        )


class Privacy(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @app_commands.command(name="export", description="Download your ratings as a CSV file.")
    async def export(self, interaction: discord.Interaction[Any]) -> None:
        bot = bot_of(interaction)
        await defer(interaction)
        text = await bot.run_sync(bot.core.ratings.export_csv, user_key(interaction))
        rows = max(0, text.count("\n") - 1)
        if rows == 0:
            await reply(interaction, "You have no ratings to export yet.")
            return
        file = discord.File(io.BytesIO(text.encode("utf-8")), filename="nncf-ratings.csv")
        await reply(interaction, f"Your {rows:,} rating(s), newest first.", file=file)

    @app_commands.command(name="forget-me", description="Delete all your ratings and your profile.")
    async def forget_me(self, interaction: discord.Interaction[Any]) -> None:
        view = new_view()
        view.add_item(ForgetButton(interaction.user.id, "yes"))
        view.add_item(ForgetButton(interaction.user.id, "no"))
        await reply(
            interaction,
            "This deletes **all** your ratings, the movies you hid and your profile, for good. "
            "Sure?",
            view=view,
        )


async def setup(bot: commands.Bot) -> None:
    bot.add_dynamic_items(ForgetButton)
    await bot.add_cog(Privacy(bot))


async def teardown(bot: commands.Bot) -> None:
    bot.remove_dynamic_items(ForgetButton)
