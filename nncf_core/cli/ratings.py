"""`nncf-bot rate` and `nncf-bot console`."""

from __future__ import annotations

import sys

import typer

from nncf_core.cli.common import echo, open_core
from nncf_core.console import Console, describe_rating
from nncf_core.services.users import UserKey


def rate(
    user: str = typer.Option(..., "--user", help="movielens:42, discord:ID or a console name."),
    movie: str = typer.Option(..., "--movie", help="Movie id or title, e.g. 'Toy Story (1995)'."),
    stars: str = typer.Option(..., "--stars", help="0.5 to 5.0 in half steps."),
) -> None:
    """Store one rating, as the console would."""
    with open_core() as core:
        result = core.ratings.rate(UserKey.parse(user), movie, stars, "console")
    echo(describe_rating(result.movie.label, result.stars, result.previous))


def console(
    user: str = typer.Option("me", "--user", help="Who you are in the console."),
) -> None:
    """A local console with the bot's commands (/rate, /ratings, /recommend, ...)."""
    with open_core() as core:
        session = Console(core, UserKey.parse(user))
        interactive = sys.stdin.isatty()
        if interactive:
            echo(f"nncf-bot console as {session.user}. Type /help for commands, /quit to leave.")

        def lines() -> object:
            while True:
                try:
                    yield input("> ") if interactive else next(sys.stdin)
                except (EOFError, StopIteration):
                    return

        session.run(lines(), echo)  # type: ignore[arg-type]


def register(app: typer.Typer) -> None:
    app.command("rate")(rate)
    app.command("console")(console)
