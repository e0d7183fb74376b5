"""Components shared by several commands: pick a movie, rate it with a star button,
or hide it ("not interested", "seen it").

They are :class:`discord.ui.DynamicItem` subclasses: the state lives in the
``custom_id`` (``nncf:rate:<movie id>:<half stars>``), and the classes are
registered with ``bot.add_dynamic_items`` at start-up, so buttons on messages
sent before a restart keep working. Nothing in a ``custom_id`` is trusted: the
rating service validates the stars and the movie like any typed input, and a
click always acts for the user who clicked.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Self

import discord

from bot.errors import report
from bot.replies import bot_of, defer, escape, reply, stars_glyphs, user_key
from nncf_core.console import describe_rating
from nncf_core.errors import UnknownMovie
from nncf_core.services.catalog import MovieRef

HALF_STEPS = range(1, 11)
"""Star buttons in half stars: 1 -> 0.5 stars ... 10 -> 5.0 stars."""

FLAG_LABELS = {"not_interested": "Not interested", "seen": "Seen it"}

View = discord.ui.View


class Component(discord.ui.DynamicItem[Any], template=r"(?!)"):
    """Base of the bot's components: state parsed from the ``custom_id`` by
    :meth:`from_match`, and errors of :meth:`clicked` sent to the one error handler
    (discord.py would only log them, leaving the user with "interaction failed").

    The base's template matches nothing; each subclass passes its own.
    """

    @classmethod
    def from_match(cls, match: re.Match[str], item: discord.ui.Item[Any]) -> Self:
        raise NotImplementedError

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> Self:
        return cls.from_match(match, item)

    async def clicked(self, interaction: discord.Interaction[Any]) -> None:
        raise NotImplementedError

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            await self.clicked(interaction)
        except Exception as error:
            await report(interaction, error)


def new_view() -> View:
    # Fully dynamic views are not kept in discord.py's view store, so sending
    # many of them costs no memory and needs no timeout.
    return View(timeout=None)


def star_button(half: int, custom_id: str) -> discord.ui.Button[View]:
    """A star button: ``half`` half stars, whole stars highlighted, 0.5-2.5 on the first row."""
    return discord.ui.Button(
        label=f"{half / 2:g}★",
        style=discord.ButtonStyle.primary if half % 2 == 0 else discord.ButtonStyle.secondary,
        custom_id=custom_id,
        row=0 if half <= 5 else 1,
    )


def rating_panel(movie_id: int, *, with_flags: bool = True) -> View:
    """Ten star buttons (0.5 to 5.0) and, optionally, "not interested" / "seen it"."""
    view = new_view()
    for half in HALF_STEPS:
        view.add_item(RateButton(movie_id, half))
    if with_flags:
        for kind in FLAG_LABELS:
            view.add_item(FlagButton(movie_id, kind))
    return view


def panel_text(movie: MovieRef) -> str:
    genres = ", ".join(movie.genres) or "no genres listed"
    return f"Rate **{escape(movie.label)}** ({genres}):"


class RateButton(
    Component,
    template=r"nncf:rate:(?P<movie>\d{1,12}):(?P<half>\d{1,2})",
):
    def __init__(self, movie_id: int, half: int) -> None:
        self.movie_id = movie_id
        self.half = half
        super().__init__(star_button(half, f"nncf:rate:{movie_id}:{half}"))

    @classmethod
    def from_match(cls, match: re.Match[str], item: discord.ui.Item[Any]) -> RateButton:
        return cls(int(match["movie"]), int(match["half"]))

    async def clicked(self, interaction: discord.Interaction[Any]) -> None:
        bot = bot_of(interaction)
        await defer(interaction, update=True)
        result = await bot.run_sync(
            bot.core.ratings.rate, user_key(interaction), self.movie_id, self.half / 2, "discord"
        )
        text = describe_rating(escape(result.movie.label), result.stars, result.previous)
        await reply(
            interaction, f"{text} {stars_glyphs(result.stars)}", view=rating_panel(self.movie_id)
        )


class FlagButton(
    Component,
    template=r"nncf:flag:(?P<movie>\d{1,12}):(?P<kind>not_interested|seen)",
):
    def __init__(self, movie_id: int, kind: str) -> None:
        self.movie_id = movie_id
        self.kind = kind
        super().__init__(
            discord.ui.Button(
                label=FLAG_LABELS[kind],
                style=discord.ButtonStyle.danger
                if kind == "not_interested"
                else discord.ButtonStyle.success,
                custom_id=f"nncf:flag:{movie_id}:{kind}",
                row=2,
            )
        )

    @classmethod
    def from_match(cls, match: re.Match[str], item: discord.ui.Item[Any]) -> FlagButton:
        return cls(int(match["movie"]), match["kind"])

    async def clicked(self, interaction: discord.Interaction[Any]) -> None:
        bot = bot_of(interaction)
        await defer(interaction, update=True)
        movie = await bot.run_sync(
            bot.core.ratings.flag, user_key(interaction), self.movie_id, self.kind
        )
        why = "not interested" if self.kind == "not_interested" else "already seen"
        await reply(
            interaction,
            f"Noted: **{escape(movie.label)}** ({why}) will not be recommended to you again. "
            "You can still rate it:",
            view=rating_panel(self.movie_id, with_flags=False),
        )


class PickSelect(Component, template=r"nncf:pick(?::(?P<tag>\w{0,20}))?"):
    """A select of movies; choosing one opens its rating panel."""

    def __init__(self, select: discord.ui.Select[View]) -> None:
        super().__init__(select)

    @classmethod
    def of(cls, movies: Sequence[MovieRef], *, tag: str = "", row: int = 0) -> PickSelect:
        options = [
            discord.SelectOption(label=m.label[:100], value=str(m.id), description=_genres(m))
            for m in movies[:25]
        ]
        select: discord.ui.Select[View] = discord.ui.Select(
            custom_id=f"nncf:pick:{tag}" if tag else "nncf:pick",
            placeholder="Rate one of these…",
            options=options,
            row=row,
        )
        return cls(select)

    @classmethod
    def from_match(cls, match: re.Match[str], item: discord.ui.Item[Any]) -> PickSelect:
        if not isinstance(item, discord.ui.Select):
            raise TypeError("nncf:pick must be a select")
        return cls(item)

    async def clicked(self, interaction: discord.Interaction[Any]) -> None:
        value = self.item.values[0] if self.item.values else ""
        movie = bot_of(interaction).core.catalog.get(int(value)) if value.isdigit() else None
        if movie is None:
            raise UnknownMovie(value)
        # The catalogue is in memory: answer at once, no deferral needed.
        await reply(interaction, panel_text(movie), view=rating_panel(movie.id))


def _genres(movie: MovieRef) -> str | None:
    text = ", ".join(movie.genres)
    return text[:100] or None


DYNAMIC_ITEMS = (RateButton, FlagButton, PickSelect)
