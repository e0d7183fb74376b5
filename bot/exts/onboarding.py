"""/start: rate a handful of popular movies from different genres, one at a time.

The remaining movies travel in the buttons' ``custom_id`` (base-36 ids), so the
walk-through needs no server-side session and survives a restart.
"""

from __future__ import annotations

import re
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.replies import bot_of, defer, escape, reply, user_key
from bot.views import HALF_STEPS, Component, new_view, star_button
from nncf_core.app import Core
from nncf_core.recommend.base import Filters
from nncf_core.services.catalog import MovieRef
from nncf_core.services.users import UserKey

PICKS = 8
GENRE_ORDER = (
    "Comedy",
    "Drama",
    "Action",
    "Sci-Fi",
    "Animation",
    "Romance",
    "Thriller",
    "Crime",
    "Horror",
    "Adventure",
    "Fantasy",
    "Documentary",
)
"""Genres to draw from, in this order, so the first few picks already differ in kind."""
MAX_CUSTOM_ID = 100
UNSEEN, STOP = "u", "x"


def onboarding_picks(core: Core, user: UserKey, count: int = PICKS) -> list[MovieRef]:
    """Popular movies the user has not rated or hidden, each from another genre when the
    catalogue allows (then the most popular of the rest)."""
    exclude = frozenset(core.ratings.user_ratings(user)) | core.ratings.hidden_movies(user)
    known = set(core.catalog.genres)
    chosen: list[MovieRef] = []
    taken: set[int] = set(exclude)
    for genre in [g for g in GENRE_ORDER if g in known]:
        if len(chosen) >= count:
            break
        found = core.recommender.popular(5, Filters(genres=(genre,), exclude=frozenset(taken)))
        if found:
            chosen.append(found[0].movie)
            taken.add(found[0].movie.id)
    if len(chosen) < count:
        more = core.recommender.popular(count - len(chosen), Filters(exclude=frozenset(taken)))
        chosen += [item.movie for item in more]
    return chosen[:count]


def _b36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
        if number == 0:
            return text


def _queue_text(queue: list[int], budget: int) -> str:
    parts: list[str] = []
    for movie_id in queue:
        part = _b36(movie_id)
        if len(".".join([*parts, part])) > budget:
            break
        parts.append(part)
    return ".".join(parts)


def _parse_queue(text: str) -> list[int]:
    return [int(part, 36) for part in text.split(".") if part]


def step_message(
    movie: MovieRef, queue: list[int], step: int
) -> tuple[discord.Embed, discord.ui.View]:
    total = step + len(queue)
    embed = discord.Embed(
        title=f"Getting to know your taste · {step} of {total}",
        description=(
            f"**{escape(movie.label)}**\n{', '.join(movie.genres) or 'no genres listed'}\n\n"
            "How would you rate it? Or say you have not seen it."
        ),
    )
    prefix = f"nncf:start:10:{_b36(movie.id)}:{step}:"
    rest = _queue_text(queue, MAX_CUSTOM_ID - len(prefix))
    view = new_view()
    for half in HALF_STEPS:
        view.add_item(StartButton(str(half), movie.id, step, rest))
    view.add_item(StartButton(UNSEEN, movie.id, step, rest))
    view.add_item(StartButton(STOP, movie.id, step, rest))
    return embed, view


DONE_TEXT = (
    "Thanks, that is enough to start! Run `/recommend` for your personal picks "
    "(they improve with every rating)."
)
STOPPED_TEXT = "Stopped. Run `/start` again any time, or `/recommend` to see your picks."


class StartButton(
    Component,
    template=(
        r"nncf:start:(?P<action>\d{1,2}|u|x):(?P<movie>[0-9a-z]{1,10}):(?P<step>\d{1,2}):"
        r"(?P<queue>[0-9a-z.]*)"
    ),
):
    def __init__(self, action: str, movie_id: int, step: int, queue: str) -> None:
        self.action, self.movie_id, self.step, self.queue = action, movie_id, step, queue
        custom_id = f"nncf:start:{action}:{_b36(movie_id)}:{step}:{queue}"
        if action in (UNSEEN, STOP):
            button: discord.ui.Button[discord.ui.View] = discord.ui.Button(
                label="Haven't seen it" if action == UNSEEN else "Stop here",
                style=discord.ButtonStyle.secondary
                if action == UNSEEN
                else discord.ButtonStyle.danger,
                custom_id=custom_id,
                row=2,
            )
        else:
            button = star_button(int(action), custom_id)
        super().__init__(button)

    @classmethod
    def from_match(cls, match: re.Match[str], item: discord.ui.Item[Any]) -> StartButton:
        return cls(match["action"], int(match["movie"], 36), int(match["step"]), match["queue"])

    async def clicked(self, interaction: discord.Interaction[Any]) -> None:
        bot = bot_of(interaction)
        if self.action == STOP:
            await interaction.response.edit_message(content=STOPPED_TEXT, embed=None, view=None)
            return
        if self.action != UNSEEN:
            await defer(interaction, update=True)
            await bot.run_sync(
                bot.core.ratings.rate,
                user_key(interaction),
                self.movie_id,
                int(self.action) / 2,
                "discord",
            )
        queue = _parse_queue(self.queue)
        catalog = bot.core.catalog
        while queue and catalog.get(queue[0]) is None:
            queue.pop(0)
        if not queue:
            if interaction.response.is_done():
                await reply(interaction, DONE_TEXT)
            else:
                await interaction.response.edit_message(content=DONE_TEXT, embed=None, view=None)
            return
        movie = catalog.get(queue[0])
        assert movie is not None
        embed, view = step_message(movie, queue[1:], self.step + 1)
        if interaction.response.is_done():
            await reply(interaction, embed=embed, view=view)
        else:
            await interaction.response.edit_message(content=None, embed=embed, view=view)


class Onboarding(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @app_commands.command(name="start", description="Rate a few popular movies to get started.")
    async def start(self, interaction: discord.Interaction[Any]) -> None:
        bot = bot_of(interaction)
        await defer(interaction)
        picks = await bot.run_sync(onboarding_picks, bot.core, user_key(interaction))
        if not picks:
            await reply(
                interaction, "You have rated every popular movie already. Try `/recommend`!"
            )
            return
        embed, view = step_message(picks[0], [m.id for m in picks[1:]], 1)
        await reply(
            interaction,
            "Rate these as you remember them; each rating is saved at once.",
            embed=embed,
            view=view,
        )


async def setup(bot: commands.Bot) -> None:
    bot.add_dynamic_items(StartButton)
    await bot.add_cog(Onboarding(bot))


async def teardown(bot: commands.Bot) -> None:
    bot.remove_dynamic_items(StartButton)
