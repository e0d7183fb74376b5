"""When the bot queues a retrain on its own."""

from __future__ import annotations

from datetime import timedelta

from bot.schedule import model_status, retrain_due
from nncf_core.app import Core
from nncf_core.db.models import ModelVersion, utcnow
from nncf_core.services.users import UserKey
from tests.conftest import make_settings


def _model(core: Core, *, age_hours: float) -> None:
    with core.db.session() as session:
        session.add(
            ModelVersion(
                artifact_path="m.pt",
                sha256="0" * 64,
                is_active=True,
                activated_at=utcnow(),
                created_at=utcnow() - timedelta(hours=age_hours),
                config={},
                metrics={},
                n_ratings=2,
                newest_rating_at=utcnow() - timedelta(seconds=1),
            )
        )


def test_no_new_rating_means_nothing_is_due(core: Core, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(core.settings.database_url, tmp_path)
    assert retrain_due(core.db, settings) == (None, 0)
    _model(core, age_hours=1000)
    assert retrain_due(core.db, settings) == (None, 0)


def test_threshold_and_schedule(core: Core, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(core.settings.database_url, tmp_path)
    settings.retrain_min_new_ratings = 2
    settings.retrain_max_age_hours = 24
    _model(core, age_hours=1)
    core.ratings.rate(UserKey.parse("ann"), "Toy Story", 4, "console")
    assert retrain_due(core.db, settings) == (None, 1)
    core.ratings.rate(UserKey.parse("bob"), "Heat (1995)", 3, "console")
    assert retrain_due(core.db, settings) == ("threshold", 2)
    settings.retrain_min_new_ratings = 500
    assert retrain_due(core.db, settings) == (None, 2)
    assert retrain_due(core.db, settings, utcnow() + timedelta(hours=30)) == ("schedule", 2)
    status = model_status(core.db)
    assert (status.ratings_total, status.ratings_since) == (2, 2)
    assert status.version is not None and status.active_job is None


def test_without_a_model_any_rating_makes_it_due(core: Core, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(core.settings.database_url, tmp_path)
    core.ratings.rate(UserKey.parse("ann"), "Toy Story", 4, "console")
    assert retrain_due(core.db, settings) == ("schedule", 1)
