"""/recommend (with a select to rate, "not interested" / "seen it", and "more") and /similar."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.exts.rating import MovieText
from bot.replies import (
    MAX_CHOICES,
    MAX_EMBED_DESCRIPTION,
    bot_of,
    choice,
    defer,
    escape,
    movie_autocomplete,
    reply,
    user_key,
)
from bot.views import Component, PickSelect, new_view
from nncf_core.recommend.base import MAX_RESULTS, Filters, Recommendation, RecommendationList
from nncf_core.recommend.features import genre_key
from nncf_core.services.catalog import MovieCatalog, MovieRef

RECOMMEND_BURST, RECOMMEND_PER_S = 4, 20.0
"""Per user: four /recommend within 20 seconds (each one scores the whole catalogue)."""
DEFAULT_COUNT = 10
MAX_COUNT = 25
"""A select holds 25 options, so one page shows at most 25 movies."""
SIMILAR_COUNT = 10
BECAUSE_CHARS = 70


def canonical_genre(catalog: MovieCatalog, text: str | None) -> str | None:
    """The catalogue's spelling of a genre ("scifi" -> "Sci-Fi"); unknown text is returned
    as typed, for the recommender to refuse with the list of genres."""
    if text is None or not text.strip():
        return None
    key = genre_key(text)
    return next((g for g in catalog.genres if genre_key(g) == key), text.strip())


def fit_lines(lines: Sequence[str], limit: int = MAX_EMBED_DESCRIPTION) -> str:
    """Join lines, leaving out the tail that would not fit in an embed description."""
    kept: list[str] = []
    size = 0
    for line in lines:
        if size + len(line) + 1 > limit - 2:
            kept.append("…")
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(kept)


def recommendation_line(rank: int, item: Recommendation, *, cold_start: bool) -> str:
    line = f"**{rank}. {escape(item.movie.label)}**"
    if cold_start:
        line += f" · {item.predicted_stars:.1f}★ community"
    else:
        line += f" · {item.predicted_stars:.1f}★ predicted"
    if item.because is not None:
        because = escape(item.because.label)[:BECAUSE_CHARS]
        line += f"\n  ↳ because you liked *{because}*"
    return line


def recommendations_embed(
    result: RecommendationList, items: Sequence[Recommendation], offset: int, genre: str | None
) -> discord.Embed:
    title = "Popular picks" if result.cold_start else "Recommended for you"
    if genre:
        title += f" · {genre}"
    lines: list[str] = []
    if result.cold_start:
        lines.append(
            "You have not rated anything yet, so these are popular, well-rated movies. "
            "Rate a few (or run `/start`) to get personal picks.\n"
        )
    if not items:
        lines.append(
            "Nothing more matches: you have seen the whole list."
            if offset
            else "No movie matches that."
        )
    lines += [
        recommendation_line(offset + i + 1, item, cold_start=result.cold_start)
        for i, item in enumerate(items)
    ]
    embed = discord.Embed(title=title, description=fit_lines(lines))
    source = (
        f"model v{result.model_version_id}"
        if result.model_version_id is not None
        else "popularity (no personal model yet)"
    )
    embed.set_footer(text=f"{source} · use the menu to rate one")
    return embed


async def show_recommendations(
    interaction: discord.Interaction[Any], offset: int, count: int, genre: str | None
) -> None:
    bot = bot_of(interaction)
    genre = canonical_genre(bot.core.catalog, genre)
    filters = Filters(genres=(genre,)) if genre else Filters()
    wanted = min(offset + count, MAX_RESULTS)
    result = await bot.run_sync(
        bot.core.recommender.recommend, user_key(interaction), wanted, filters
    )
    items = result.items[offset:wanted]
    view = new_view()
    if items:
        view.add_item(PickSelect.of([item.movie for item in items], tag="recs"))
    has_more = len(result.items) >= wanted and wanted < MAX_RESULTS
    view.add_item(MoreButton(wanted, count, genre or "", disabled=not has_more))
    await reply(interaction, embed=recommendations_embed(result, items, offset, genre), view=view)


class MoreButton(
    Component,
    template=r"nncf:more:(?P<offset>\d{1,3}):(?P<count>\d{1,2}):(?P<genre>[^:]{0,40})",
):
    """The next page of recommendations, in place of this one."""

    def __init__(self, offset: int, count: int, genre: str, *, disabled: bool = False) -> None:
        self.offset, self.count, self.genre = offset, count, genre
        super().__init__(
            discord.ui.Button(
                label="More ▶",
                style=discord.ButtonStyle.secondary,
                custom_id=f"nncf:more:{offset}:{count}:{genre}",
                disabled=disabled,
                row=1,
            )
        )

    @classmethod
    def from_match(cls, match: re.Match[str], item: discord.ui.Item[Any]) -> MoreButton:
        return cls(int(match["offset"]), int(match["count"]), match["genre"])

    async def clicked(self, interaction: discord.Interaction[Any]) -> None:
        count = min(max(self.count, 1), MAX_COUNT)
        offset = min(self.offset, MAX_RESULTS - 1)
        await defer(interaction, update=True)
        await show_recommendations(interaction, offset, count, self.genre or None)


async def genre_autocomplete(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    key = genre_key(current) if current.strip() else ""
    genres = bot_of(interaction).core.catalog.genres
    return [choice(g, g) for g in genres if genre_key(g).startswith(key)][:MAX_CHOICES]


def similar_embed(movie: MovieRef, found: Sequence[tuple[MovieRef, float]]) -> discord.Embed:
    lines = [f"**{i}. {escape(ref.label)}**" for i, (ref, _) in enumerate(found, start=1)]
    if not lines:
        lines = ["No movie is close enough with enough ratings."]
    return discord.Embed(
        title=f"Movies like {escape(movie.label)}"[:256], description=fit_lines(lines)
    )


class Recommend(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @app_commands.command(name="recommend", description="Movies you may like, best first.")
    @app_commands.describe(
        count=f"How many (1 to {MAX_COUNT}, default {DEFAULT_COUNT})",
        genre="Only movies of this genre",
    )
    @app_commands.autocomplete(genre=genre_autocomplete)
    @app_commands.checks.cooldown(RECOMMEND_BURST, RECOMMEND_PER_S, key=lambda i: i.user.id)
    async def recommend(
        self,
        interaction: discord.Interaction[Any],
        count: app_commands.Range[int, 1, MAX_COUNT] = DEFAULT_COUNT,
        genre: app_commands.Range[str, 1, 40] | None = None,
    ) -> None:
        await defer(interaction)
        await show_recommendations(interaction, 0, min(max(count, 1), MAX_COUNT), genre)

    @app_commands.command(name="similar", description="Movies the model finds most alike.")
    @app_commands.describe(movie="Start typing a title and pick it from the list")
    @app_commands.autocomplete(movie=movie_autocomplete)
    async def similar(self, interaction: discord.Interaction[Any], movie: MovieText) -> None:
        bot = bot_of(interaction)
        await defer(interaction)
        ref = bot.core.catalog.resolve(movie)
        found = await bot.run_sync(bot.core.recommender.similar, ref.id, SIMILAR_COUNT)
        view = new_view()
        if found:
            view.add_item(PickSelect.of([m for m, _ in found], tag="similar"))
        await reply(interaction, embed=similar_embed(ref, found), view=view if found else None)


async def setup(bot: commands.Bot) -> None:
    bot.add_dynamic_items(MoreButton)
    await bot.add_cog(Recommend(bot))


async def teardown(bot: commands.Bot) -> None:
    bot.remove_dynamic_items(MoreButton)
