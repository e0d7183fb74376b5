"""`nncf-bot import movielens DIR`: load a MovieLens folder into the database."""

from __future__ import annotations

from pathlib import Path

import typer

from nncf_core.cli.common import echo, echo_json, open_core

import_app = typer.Typer(help="Import rating data sets.", no_args_is_help=True)


@import_app.command("movielens")
def movielens(
    path: Path = typer.Argument(
        ...,
        help="Unzipped MovieLens folder: ml-latest(-small), ml-20m/25m/32m, ml-1m/10m or ml-100k.",
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Import (or re-import: unchanged rows are left alone) a MovieLens folder."""
    from nncf_core.importers.movielens import import_movielens

    with open_core() as core:
        summary = import_movielens(core.db, path, progress=progress and not as_json)
    if as_json:
        echo_json(summary.as_dict())
    else:
        echo(str(summary))


def register(app: typer.Typer) -> None:
    app.add_typer(import_app, name="import")
