"""`nncf-bot db ...`: migrations and counts."""

from __future__ import annotations

import typer

from nncf_core.cli.common import echo, echo_json, load_settings, open_core
from nncf_core.db import migrate
from nncf_core.db.engine import Database
from nncf_core.services.stats import db_stats

db_app = typer.Typer(help="Database schema and statistics.", no_args_is_help=True)


@db_app.command("upgrade")
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Migrate the database to the latest schema (creates it when missing)."""
    settings = load_settings()
    migrate.upgrade(settings.database_url, revision)
    echo(f"database at revision {migrate.head_revision() if revision == 'head' else revision}")


@db_app.command("downgrade")
def downgrade(revision: str = typer.Argument(..., help="Target revision, or 'base'.")) -> None:
    """Migrate the database back to an older revision."""
    settings = load_settings()
    migrate.downgrade(settings.database_url, revision)
    echo(f"database at revision {revision}")


@db_app.command("current")
def current() -> None:
    """Show the schema revision of the database and the one this code needs."""
    settings = load_settings()
    db = Database(settings.database_url)
    try:
        echo(f"database: {migrate.current_revision(db.engine) or 'empty'}")
        echo(f"code needs: {migrate.head_revision()}")
    finally:
        db.dispose()


@db_app.command("stats")
def stats(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Count movies, users, ratings and models."""
    with open_core() as core:
        counts = db_stats(core.db)
    if as_json:
        echo_json(counts.as_dict())
        return
    for name, value in counts.as_dict().items():
        echo(f"{name:<14}{value:>12,}")


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
