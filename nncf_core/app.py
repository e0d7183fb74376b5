"""The core's services wired together: what the CLI, the console and the bot hold."""

from __future__ import annotations

import logging
from functools import cached_property
from typing import TYPE_CHECKING

from nncf_core.db.engine import Database
from nncf_core.db.migrate import ensure_current
from nncf_core.services.catalog import MovieCatalog
from nncf_core.services.ratings import RatingService
from nncf_core.settings import Settings

if TYPE_CHECKING:
    from nncf_core.recommend.engine import Recommender

log = logging.getLogger(__name__)


class Core:
    """One database, one catalogue, and the services over them.

    Construction checks that the schema is current (unless ``check_schema`` is
    off, for `db upgrade` itself), so nothing runs on a database that is behind.
    """

    def __init__(self, settings: Settings, *, check_schema: bool = True) -> None:
        self.settings = settings
        self.db = Database(settings.database_url)
        if check_schema:
            ensure_current(self.db.engine)
        self.catalog = MovieCatalog(self.db)
        self.ratings = RatingService(self.db, self.catalog)

    @cached_property
    def recommender(self) -> Recommender:
        """The recommender over the active model (built on first use: it loads numba)."""
        from nncf_core.recommend.engine import Recommender

        return Recommender(self.db, self.settings.model_dir, self.catalog)

    def close(self) -> None:
        self.db.dispose()

    def __enter__(self) -> Core:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
