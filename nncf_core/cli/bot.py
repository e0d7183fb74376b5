"""`nncf-bot run` (the Discord bot) and `nncf-bot sync` (register its slash commands).

discord.py is imported inside the commands only: the rest of the CLI, and
``nncf_core`` as a whole, never load it.
"""

from __future__ import annotations

import typer

from nncf_core.cli.common import echo, load_settings
from nncf_core.errors import InvalidInput
from nncf_core.settings import Settings


def _require_token(settings: Settings) -> None:
    if settings.discord_token is None:
        raise InvalidInput(
            "DISCORD_TOKEN is not set. Put DISCORD_TOKEN=... in .env (see the README), "
            "or use `nncf-bot console` for the local console."
        )


def run() -> None:
    """Run the Discord bot until Ctrl-C or SIGTERM (needs DISCORD_TOKEN)."""
    settings = load_settings()
    _require_token(settings)
    from bot.runner import run_bot

    run_bot(settings)


def sync(
    guild: list[int] = typer.Option(
        [], "--guild", help="Sync to this guild only (instant); repeat for several."
    ),
) -> None:
    """Register the slash commands with Discord, globally or in the --guild servers.

    Global changes can take a while to show; guild ones are instant.
    """
    settings = load_settings()
    _require_token(settings)
    from bot.runner import sync_commands

    names = sync_commands(settings, guild)
    where = "in guild(s) " + ", ".join(str(g) for g in guild) if guild else "globally"
    echo(f"synced {len(names)} commands {where}: " + ", ".join(f"/{n}" for n in names))


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("sync")(sync)
