"""/rate, /unrate and /ratings."""

from __future__ import annotations

import re
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.replies import (
    bot_of,
    defer,
    escape,
    movie_autocomplete,
    reply,
    stars_glyphs,
    stars_text,
    user_key,
)
from bot.views import Component, new_view
from nncf_core.console import describe_rating
from nncf_core.services.catalog import MAX_QUERY
from nncf_core.services.ratings import RatingsPage
from nncf_core.titles import label

RATE_BURST, RATE_PER_S = 10, 20.0
"""Per user: ten ratings within 20 seconds, then "try again in N s"."""
PER_PAGE = 10

MovieText = app_commands.Range[str, 1, MAX_QUERY]


def ratings_embed(page: RatingsPage) -> discord.Embed:
    if page.total == 0:
        return discord.Embed(
            title="Your ratings",
            description="You have not rated anything yet. Try `/rate` or `/start`.",
        )
    lines = [
        f"{stars_text(row.stars)} · **{escape(label(row.title, row.year))}** · "
        f"{discord.utils.format_dt(row.updated_at, 'R')}"
        for row in page.items
    ]
    embed = discord.Embed(title=f"Your ratings ({page.total})", description="\n".join(lines))
    embed.set_footer(text=f"Page {page.page} of {page.pages} · newest first")
    return embed


def ratings_view(page: RatingsPage) -> discord.ui.View | None:
    if page.pages <= 1:
        return None
    view = new_view()
    view.add_item(RatingsPageButton(page.page - 1, "prev", disabled=page.page <= 1))
    view.add_item(RatingsPageButton(page.page + 1, "next", disabled=page.page >= page.pages))
    return view


async def show_ratings(interaction: discord.Interaction[Any], page_number: int) -> None:
    bot = bot_of(interaction)
    page = await bot.run_sync(
        bot.core.ratings.list_ratings, user_key(interaction), page_number, PER_PAGE
    )
    if page.total and not page.items and page_number > page.pages:
        # Asked past the end (or ratings were removed meanwhile): show the last page.
        page = await bot.run_sync(
            bot.core.ratings.list_ratings, user_key(interaction), page.pages, PER_PAGE
        )
    await reply(interaction, embed=ratings_embed(page), view=ratings_view(page))


class RatingsPageButton(
    Component,
    template=r"nncf:ratings:(?P<page>\d{1,6}):(?P<direction>prev|next)",
):
    def __init__(self, page: int, direction: str, *, disabled: bool = False) -> None:
        self.page = page
        super().__init__(
            discord.ui.Button(
                label="◀ Newer" if direction == "prev" else "Older ▶",
                custom_id=f"nncf:ratings:{max(page, 0)}:{direction}",
                disabled=disabled,
            )
        )

    @classmethod
    def from_match(cls, match: re.Match[str], item: discord.ui.Item[Any]) -> RatingsPageButton:
        return cls(int(match["page"]), match["direction"])

    async def clicked(self, interaction: discord.Interaction[Any]) -> None:
        await defer(interaction, update=True)
        await show_ratings(interaction, max(1, self.page))


class Rating(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @app_commands.command(name="rate", description="Rate a movie from 0.5 to 5 stars.")
    @app_commands.describe(
        movie="Start typing a title and pick it from the list (or type 'Title (Year)')",
        stars="0.5 to 5.0, in half steps",
    )
    @app_commands.autocomplete(movie=movie_autocomplete)
    @app_commands.checks.cooldown(RATE_BURST, RATE_PER_S, key=lambda i: i.user.id)
    async def rate(
        self,
        interaction: discord.Interaction[Any],
        movie: MovieText,
        stars: app_commands.Range[float, 0.5, 5.0],
    ) -> None:
        bot = bot_of(interaction)
        await defer(interaction)
        result = await bot.run_sync(
            bot.core.ratings.rate, user_key(interaction), movie, stars, "discord"
        )
        text = describe_rating(f"**{escape(result.movie.label)}**", result.stars, result.previous)
        await reply(interaction, f"{text} {stars_glyphs(result.stars)}")

    @app_commands.command(name="unrate", description="Remove one of your ratings.")
    @app_commands.describe(movie="The movie whose rating to remove")
    @app_commands.autocomplete(movie=movie_autocomplete)
    async def unrate(self, interaction: discord.Interaction[Any], movie: MovieText) -> None:
        bot = bot_of(interaction)
        await defer(interaction)
        result = await bot.run_sync(bot.core.ratings.unrate, user_key(interaction), movie)
        await reply(
            interaction,
            f"Removed your {result.stars:g}-star rating of **{escape(result.movie.label)}**.",
        )

    @app_commands.command(name="ratings", description="Your ratings, newest first.")
    @app_commands.describe(page="Page number (10 ratings per page)")
    async def ratings(
        self, interaction: discord.Interaction[Any], page: app_commands.Range[int, 1, 100_000] = 1
    ) -> None:
        await defer(interaction)
        await show_ratings(interaction, page)


async def setup(bot: commands.Bot) -> None:
    bot.add_dynamic_items(RatingsPageButton)
    await bot.add_cog(Rating(bot))


async def teardown(bot: commands.Bot) -> None:
    bot.remove_dynamic_items(RatingsPageButton)
