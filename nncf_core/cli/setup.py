"""`nncf-bot setup` and `nncf-bot start`: what `make run` does for a newcomer."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from nncf_core.cli.common import echo, load_settings
from nncf_core.db import migrate

log = logging.getLogger(__name__)


def setup(
    movielens: Path | None = typer.Option(
        None, "--movielens", help="Local MovieLens folder to import on first run."
    ),
    download: bool = typer.Option(
        False, "--download", help="Download ml-latest-small from GroupLens when no folder is given."
    ),
    train: bool = typer.Option(True, "--train/--no-train", help="Train a first model if none."),
) -> None:
    """Migrate the database, import MovieLens when it has no ratings, train a first model."""
    from nncf_core.app import Core
    from nncf_core.importers.movielens import download_movielens, import_movielens
    from nncf_core.ml.registry import active_version
    from nncf_core.ml.retrain import retrain
    from nncf_core.services.stats import db_stats

    settings = load_settings()
    migrate.upgrade(settings.database_url)
    with Core(settings) as core:
        if db_stats(core.db).ratings == 0:
            if movielens is None:
                if not download:
                    echo("The database has no ratings and no MovieLens folder was given.")
                    raise typer.Exit(1)
                echo("Downloading ml-latest-small from GroupLens ...")
                movielens = download_movielens(Path("data"))
            echo(f"Importing MovieLens from {movielens} ...")
            summary = import_movielens(core.db, movielens, progress=True)
            echo(str(summary))
        else:
            echo("Database already has ratings; skipping the MovieLens import.")
        if train and active_version(core.db) is None:
            echo("Training a first model (a minute or so) ...")
            result = retrain(
                core.db,
                settings.model_dir,
                trigger="cli",
                requested_by="setup",
                progress=True,
                keep_versions=settings.model_keep_versions,
            )
            echo(result.summary)


def start() -> None:
    """Start the Discord bot when DISCORD_TOKEN is set, or else the local console."""
    settings = load_settings()
    if settings.discord_token is not None:
        from bot.runner import run_bot

        run_bot(settings)
        return
    echo(
        "No DISCORD_TOKEN set: starting the local console. "
        "To connect to Discord, put DISCORD_TOKEN=... in .env (see README) and run `make run`."
    )
    from nncf_core.cli.ratings import console

    console(user="me")


def register(app: typer.Typer) -> None:
    app.command("setup")(setup)
    app.command("start")(start)
