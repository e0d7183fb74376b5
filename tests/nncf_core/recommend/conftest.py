"""Fixtures of the recommender tests: a planted-structure catalogue with a trained model."""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from nncf_core.app import Core
from nncf_core.db import migrate
from nncf_core.db.engine import Database
from nncf_core.ml.artifacts import ModelArtifact
from nncf_core.recommend.engine import Recommender
from nncf_core.services.users import UserKey
from nncf_core.settings import Settings
from tests.conftest import make_settings
from tests.nncf_core.recommend.data import (
    newest_planted_rating,
    planted_model,
    publish,
    seed_planted,
    train_planted,
)


@contextmanager
def _seeded(folder: Path) -> Iterator[tuple[Database, int]]:
    """A fresh SQLite database in ``folder`` with the planted data, and its rating count."""
    url = f"sqlite:///{folder / 'planted.sqlite3'}"
    migrate.upgrade(url)
    db = Database(url)
    try:
        yield db, seed_planted(db)
    finally:
        db.dispose()


@pytest.fixture(scope="session")
def planted_counts(tmp_path_factory: pytest.TempPathFactory) -> int:
    """How many ratings ``seed_planted`` writes (it is deterministic)."""
    with _seeded(tmp_path_factory.mktemp("planted")) as (_, count):
        return count


@pytest.fixture(scope="session")
def planted_artifact(planted_counts: int) -> ModelArtifact:
    """The hand-built planted model, current for every ``seed_planted`` database."""
    return planted_model(newest_planted_rating(planted_counts))


@pytest.fixture(scope="session")
def trained_artifact(tmp_path_factory: pytest.TempPathFactory) -> ModelArtifact:
    """A model trained with ``train_model`` on the planted data, once per session."""
    with _seeded(tmp_path_factory.mktemp("trained")) as (db, _):
        return train_planted(db)


@pytest.fixture(scope="session")
def planted_template(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path, planted_artifact: ModelArtifact
) -> tuple[Path, Path, int]:
    """A seeded SQLite file and its model folder with the model active, copied per test."""
    folder = tmp_path_factory.mktemp("planted-template")
    path = folder / "planted.sqlite3"
    shutil.copy(sqlite_template, path)
    db = Database(f"sqlite:///{path}")
    try:
        seed_planted(db)
        version_id = publish(db, folder / "models", planted_artifact, "planted")
        with db.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.dispose()
    return path, folder / "models", version_id


@dataclass
class Planted:
    core: Core
    version_id: int
    model_dir: Path

    @property
    def db(self) -> Database:
        return self.core.db

    def recommender(self, **kwargs: object) -> Recommender:
        return Recommender(self.db, self.model_dir, self.core.catalog, **kwargs)  # type: ignore[arg-type]

    def rate(self, user: UserKey, stars: float, movie_ids: Iterable[int]) -> None:
        for movie_id in movie_ids:
            self.core.ratings.rate(user, movie_id, stars, "console")

    def sci_fi_fan(self, name: str) -> UserKey:
        """A new user who rated five Sci-Fi movies 5 stars and two romances 1 star."""
        fan = UserKey.parse(name)
        self.rate(fan, 5, (1, 3, 5, 7, 9))
        self.rate(fan, 1, (17, 20))
        return fan


@pytest.fixture
def planted(tmp_path: Path, planted_template: tuple[Path, Path, int]) -> Iterator[Planted]:
    """SQLite database with the planted catalogue and the trained model active."""
    source, models, version_id = planted_template
    path = tmp_path / "planted.sqlite3"
    shutil.copy(source, path)
    shutil.copytree(models, tmp_path / "models")
    with Core(make_settings(f"sqlite:///{path}", tmp_path)) as core:
        yield Planted(core, version_id, tmp_path / "models")


@pytest.fixture
def any_planted(db_url: str, tmp_path: Path, planted_artifact: ModelArtifact) -> Iterator[Planted]:
    """Like ``planted``, on SQLite and on PostgreSQL (seeded for each test)."""
    settings: Settings = make_settings(db_url, tmp_path)
    with Core(settings) as core:
        seed_planted(core.db)
        version_id = publish(core.db, settings.model_dir, planted_artifact, "planted")
        yield Planted(core, version_id, settings.model_dir)
