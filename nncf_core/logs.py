"""Logging set-up shared by the CLI, the worker and the bot."""

from __future__ import annotations

import logging


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    # discord.py and SQLAlchemy are chatty at INFO; their warnings still show.
    for noisy in ("sqlalchemy.engine", "discord.gateway", "discord.http", "alembic.runtime"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.root.level))
