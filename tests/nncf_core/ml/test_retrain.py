from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from sqlalchemy import func, insert, select

from nncf_core.db.engine import Database
from nncf_core.db.models import ModelVersion, Rating, User
from nncf_core.errors import JobAlreadyQueued
from nncf_core.ml import jobs, registry, retrain
from nncf_core.ml.artifacts import USER_RATING_COUNTS, file_sha256, load_artifact
from nncf_core.ml.data import load_ratings
from nncf_core.ml.ranking import META_KEY, ranker_from_extras
from nncf_core.ml.split import holdout_mask
from tests.nncf_core.ml.registry_data import START, TINY_TRAIN, seed_ratings

BAD = replace(TINY_TRAIN, lr=0.0)
"""Never leaves its initialisation: predicts about the global mean."""


@pytest.fixture
def db(sqlite_url: str) -> Iterator[Database]:
    database = Database(sqlite_url)
    seed_ratings(database)
    yield database
    database.dispose()


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    return tmp_path / "models"


def run(db: Database, model_dir: Path, config: Any = TINY_TRAIN, **kwargs: Any):  # type: ignore[no-untyped-def]
    return retrain.retrain(
        db, model_dir, trigger="cli", requested_by="test", config=config, **kwargs
    )


def versions(db: Database) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(ModelVersion)) or 0


def test_first_run_is_promoted_and_recorded(db_url: str, model_dir: Path) -> None:
    database = Database(db_url)
    try:
        n = seed_ratings(database)
        result = run(database, model_dir)
        assert (result.status, result.promoted, result.old_rmse) == ("succeeded", True, None)
        assert result.n_ratings == n and result.curve and result.seconds > 0
        assert result.new_rmse is not None and result.new_rmse < 0.9
        version = registry.active_version(database)
        assert version is not None and version.id == result.version_id
        assert re.fullmatch(r"model-\d{6}-\d{8}T\d{6}Z\.pt", version.artifact_path)
        assert version.artifact_path.startswith(f"model-{result.job_id:06d}-")
        file = registry.artifact_file(model_dir, version)
        assert file_sha256(file) == version.sha256
        artifact = load_artifact(file, version.sha256)
        ranker = ranker_from_extras(artifact.extras, artifact.extras_meta[META_KEY])
        assert ranker.n_items == len(artifact.items) and len(ranker.items) > 0
        assert version.training_job_id == result.job_id and version.n_ratings == n
        assert version.newest_rating_at is not None and version.newest_rating_at > START
        assert version.holdout_rmse == pytest.approx(version.metrics["holdout_rmse"])
        assert version.config["model"]["emb_size"] == 8
        job = jobs.get_job(database, result.job_id)
        assert job is not None
        assert (job.status, job.trigger, job.requested_by) == ("succeeded", "cli", "test")
        assert job.model_version_id == version.id and job.finished_at is not None
        assert job.metrics is not None
        assert job.metrics["new_holdout_rmse"] == pytest.approx(result.new_rmse)
        assert job.config is not None and job.config["lr"] == TINY_TRAIN.lr
        assert "promoted" in result.summary and f"{n:,} ratings" in result.summary
        assert job.message == result.summary
    finally:
        database.dispose()


def test_a_ranker_that_cannot_be_fitted_leaves_a_model_without_one(
    db: Database, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def singular(*_args: object) -> None:
        raise torch.linalg.LinAlgError("singular")

    monkeypatch.setattr(retrain, "fit_ranker", singular)
    result = run(db, model_dir)
    assert result.status == "succeeded" and result.promoted
    version = registry.active_version(db)
    assert version is not None
    artifact = load_artifact(registry.artifact_file(model_dir, version), version.sha256)
    assert META_KEY not in artifact.extras_meta and set(artifact.extras) == {USER_RATING_COUNTS}


def test_gate_rejects_a_worse_model_and_keeps_the_old_one(db: Database, model_dir: Path) -> None:
    good = run(db, model_dir)
    bad = run(db, model_dir, BAD)
    assert (bad.status, bad.promoted) == ("rejected", False)
    assert bad.old_version_id == good.version_id
    assert bad.new_rmse > bad.old_rmse + retrain.GATE_TOLERANCE  # type: ignore[operator]
    # The old model judged on the new run's holdout: the same data here, so the same number.
    assert bad.old_rmse == pytest.approx(good.new_rmse, abs=1e-6)
    assert registry.active_version(db).id == good.version_id  # type: ignore[union-attr]
    rejected = registry.get_version(db, bad.version_id)  # type: ignore[arg-type]
    assert rejected is not None and not rejected.is_active
    assert registry.artifact_file(model_dir, rejected).is_file()  # kept for `models activate`
    job = jobs.get_job(db, bad.job_id)
    assert job is not None and job.status == "rejected"
    assert f"{bad.new_rmse:.4f}" in job.message and f"{bad.old_rmse:.4f}" in job.message  # type: ignore[operator]
    assert "rejected" in bad.summary and f"v{good.version_id} stays active" in bad.summary


def test_a_crash_in_training_fails_the_job_and_keeps_the_model(
    db: Database, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = run(db, model_dir)

    def explode(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("CUDA out of memory (simulated)")

    monkeypatch.setattr(retrain, "train_model", explode)
    failed = run(db, model_dir)
    assert (failed.status, failed.promoted, failed.version_id) == ("failed", False, None)
    assert failed.error == "RuntimeError: CUDA out of memory (simulated)"
    job = jobs.get_job(db, failed.job_id)
    assert job is not None and job.status == "failed" and job.error == failed.error
    assert registry.active_version(db).id == good.version_id  # type: ignore[union-attr]
    assert versions(db) == 1
    assert f"model v{good.version_id} is still the one served" in failed.summary
    assert len(list(model_dir.iterdir())) == 1


def test_a_failed_write_leaves_no_file(
    db: Database, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def half_write(_artifact: Any, path: Path) -> str:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(retrain, "save_artifact", half_write)
    failed = run(db, model_dir)
    assert failed.status == "failed" and "No space left" in (failed.error or "")
    assert list(model_dir.iterdir()) == []
    assert versions(db) == 0 and registry.active_version(db) is None


def test_a_failure_after_registration_removes_the_version(
    db: Database, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = run(db, model_dir)

    def broken_gate(*_args: Any, **_kwargs: Any) -> Any:
        raise ValueError("gate exploded")

    monkeypatch.setattr(retrain, "promotion_gate", broken_gate)
    failed = run(db, model_dir)
    assert failed.status == "failed" and failed.error == "ValueError: gate exploded"
    assert versions(db) == 1
    assert registry.active_version(db).id == good.version_id  # type: ignore[union-attr]
    assert len(list(model_dir.iterdir())) == 1


def test_an_unreadable_active_model_is_replaced(db: Database, model_dir: Path) -> None:
    first = run(db, model_dir)
    version = registry.get_version(db, first.version_id)  # type: ignore[arg-type]
    assert version is not None
    registry.artifact_file(model_dir, version).write_bytes(b"garbage")
    second = run(db, model_dir, BAD)
    assert (second.status, second.promoted, second.old_rmse) == ("succeeded", True, None)
    assert "cannot be loaded" in second.message


def test_retrain_refuses_while_another_job_runs(db: Database, model_dir: Path) -> None:
    other = jobs.start_job(db, "cli", "someone")
    with pytest.raises(JobAlreadyQueued) as refused:
        run(db, model_dir)
    assert refused.value.job_id == other.id
    assert versions(db) == 0


def test_retrain_runs_a_queued_job_with_its_config(db: Database, model_dir: Path) -> None:
    queued = jobs.enqueue(db, "admin", "discord:1", config=replace(TINY_TRAIN, epochs=2).as_dict())
    result = retrain.retrain(db, model_dir, trigger="admin", job_id=queued.id)
    assert result.job_id == queued.id and result.status == "succeeded"
    assert len(result.curve) == 2
    job = jobs.get_job(db, queued.id)
    assert job is not None and job.status == "succeeded" and job.worker is not None


def test_a_job_failed_behind_its_back_stops_training(
    db: Database, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs, "heartbeat", lambda _db, _job_id: False)
    result = run(db, model_dir)
    assert result.status == "failed"
    assert "stopped being 'running'" in (result.error or "")
    assert len(result.curve) == 0 and versions(db) == 0


def test_old_model_is_judged_with_its_fallback_on_new_users(db: Database, model_dir: Path) -> None:
    first = run(db, model_dir)
    # Newcomers the first model has never seen, each rating every movie 5 stars.
    with db.session() as session:
        session.execute(
            insert(User),
            [{"id": 1000 + u, "external_id": f"movielens:{1000 + u}"} for u in range(5)],
        )
        session.execute(
            insert(Rating),
            [
                {"user_id": 1000 + u, "movie_id": m, "stars": 5.0, "source": "import"}
                for u in range(5)
                for m in range(1, 41)
            ],
        )
    data = load_ratings(db)
    held = data.subset(holdout_mask(data.user_ids, data.movie_ids, TINY_TRAIN.holdout_fraction))
    old = registry.load_version(model_dir, registry.get_version(db, first.version_id))  # type: ignore[arg-type]
    newcomer = held.user_ids >= 1000
    assert newcomer.any()
    expected = np.where(newcomer, old.global_mean, np.nan)
    second = run(db, model_dir)
    assert second.n_holdout == held.n
    predicted = retrain.predict_ids(old, held.user_ids, held.movie_ids).values
    assert np.allclose(predicted[newcomer], expected[newcomer])
    assert second.old_rmse == pytest.approx(retrain.gate_rmse(old, held), abs=1e-6)
    assert math.isfinite(second.old_rmse)  # type: ignore[arg-type]


def test_the_tolerance_decides(
    db: Database, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(db, model_dir)
    artifact = registry.load_version(model_dir, registry.active_version(db))  # type: ignore[arg-type]
    data = load_ratings(db)
    for gap, promoted in [(0.0, True), (retrain.GATE_TOLERANCE / 2, True), (0.01, False)]:
        scores = iter([0.9 + gap, 0.9])  # the new model is judged first, then the active one
        monkeypatch.setattr(retrain, "gate_rmse", lambda _a, _h, scores=scores: next(scores))
        gate = retrain.promotion_gate(db, model_dir, artifact, data, TINY_TRAIN)
        assert gate.promote is promoted, gap
        assert (gate.new_rmse, gate.old_rmse) == (pytest.approx(0.9 + gap), 0.9)


def test_no_ratings_fails_with_a_readable_reason(sqlite_url: str, model_dir: Path) -> None:
    empty = Database(sqlite_url)
    result = run(empty, model_dir)
    assert result.status == "failed"
    assert result.error is not None and "no ratings to train on" in result.error
    assert not result.error.startswith("InvalidInput")
    assert "there is still no active model" in result.summary
