"""/movie: details, community average, your rating, and buttons to rate it."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.exts.rating import MovieText
from bot.replies import bot_of, defer, escape, movie_autocomplete, reply, stars_text, user_key
from bot.views import rating_panel
from nncf_core.services.ratings import MovieDetails


def movie_embed(info: MovieDetails) -> discord.Embed:
    embed = discord.Embed(title=escape(info.movie.label)[:256])
    embed.add_field(name="Genres", value=", ".join(info.genres) or "none listed", inline=False)
    if info.count and info.average is not None:
        rounded = round(info.average * 2) / 2
        community = (
            f"{stars_text(rounded)} (average {info.average:.2f} from {info.count:,} ratings)"
        )
    else:
        community = "Nobody has rated it yet."
    embed.add_field(name="Community", value=community, inline=False)
    mine = "not rated yet" if info.your_stars is None else stars_text(info.your_stars)
    embed.add_field(name="You", value=mine, inline=False)
    links = []
    if info.imdb_id:
        imdb = info.imdb_id if info.imdb_id.startswith("tt") else f"tt{info.imdb_id}"
        links.append(f"[IMDb](https://www.imdb.com/title/{imdb}/)")
    if info.tmdb_id:
        links.append(f"[TMDB](https://www.themoviedb.org/movie/{info.tmdb_id})")
    if links:
        embed.add_field(name="Links", value=" · ".join(links), inline=False)
    embed.set_footer(text=f"movie id {info.movie.id}")
    return embed


class Movies(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @app_commands.command(
        name="movie", description="Details of a movie, its average and your rating."
    )
    @app_commands.describe(title="Start typing a title and pick it from the list")
    @app_commands.autocomplete(title=movie_autocomplete)
    async def movie(self, interaction: discord.Interaction[Any], title: MovieText) -> None:
        bot = bot_of(interaction)
        await defer(interaction)
        info = await bot.run_sync(bot.core.ratings.details, title, user_key(interaction))
        await reply(interaction, embed=movie_embed(info), view=rating_panel(info.movie.id))


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Movies(bot))
