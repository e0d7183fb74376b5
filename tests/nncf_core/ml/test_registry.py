from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from sqlalchemy import func, select

from nncf_core.db.engine import Database
from nncf_core.db.models import ModelVersion
from nncf_core.errors import ArtifactError, UnknownModelVersion
from nncf_core.ml import registry
from nncf_core.ml.artifacts import load_artifact, save_artifact
from nncf_core.ml.config import ModelConfig
from tests.nncf_core.ml.registry_data import random_artifact, saved_artifact
from tests.nncf_core.ml.test_jobs import race


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


def register(db: Database, model_dir: Path, name: str, seed: int = 0) -> ModelVersion:
    path, digest = saved_artifact(model_dir, name, seed=seed)
    return registry.register_version(
        db,
        artifact_path=path,
        model_dir=model_dir,
        sha256=digest,
        artifact=load_artifact(path),
        job_id=None,
    )


def active_ids(db: Database) -> list[int]:
    with db.session() as session:
        return list(session.scalars(select(ModelVersion.id).where(ModelVersion.is_active)))


def test_register_stores_fingerprint_and_relative_path(db: Database, tmp_path: Path) -> None:
    version = register(db, tmp_path, "m1.pt")
    assert version.artifact_path == "m1.pt"
    assert registry.artifact_file(tmp_path, version) == tmp_path / "m1.pt"
    assert (version.n_ratings, version.holdout_rmse, version.is_active) == (10, 1.0, False)
    assert version.newest_rating_at is not None and version.newest_rating_at.year == 2020
    assert version.config == {"model": {"emb_size": 8, "n_hidden": 8, "dropout": 0.0}}
    assert registry.active_version(db) is None


def test_artifact_outside_model_dir_keeps_its_absolute_path(db: Database, tmp_path: Path) -> None:
    path, digest = saved_artifact(tmp_path / "elsewhere")
    version = registry.register_version(
        db,
        artifact_path=path,
        model_dir=tmp_path / "models",
        sha256=digest,
        artifact=load_artifact(path),
        job_id=None,
    )
    assert Path(version.artifact_path).is_absolute()
    assert registry.artifact_file(tmp_path / "models", version) == path.resolve()


def test_one_active_version_at_a_time(db: Database, tmp_path: Path) -> None:
    first, second = register(db, tmp_path, "a.pt"), register(db, tmp_path, "b.pt")
    assert registry.activate(db, first.id).activated_at is not None
    assert active_ids(db) == [first.id]
    registry.activate(db, second.id)
    assert active_ids(db) == [second.id]
    assert registry.active_version(db).id == second.id  # type: ignore[union-attr]
    assert [v.id for v in registry.list_versions(db)] == [second.id, first.id]
    with pytest.raises(UnknownModelVersion, match="no model version 99"):
        registry.activate(db, 99)
    assert active_ids(db) == [second.id]


def test_concurrent_activations_leave_one_active(db: Database, tmp_path: Path) -> None:
    versions = [register(db, tmp_path, f"m{i}.pt") for i in range(4)]
    results = race(4, lambda i: registry.activate(db, versions[i].id))
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert len(active_ids(db)) == 1


def test_round_trip_gives_identical_predictions(db: Database, tmp_path: Path) -> None:
    artifact = random_artifact([5, 7, 9], [1, 2, 3, 4], seed=3)
    path = tmp_path / "m.pt"
    digest = save_artifact(artifact, path)
    version = registry.register_version(
        db, artifact_path=path, model_dir=tmp_path, sha256=digest, artifact=artifact, job_id=None
    )
    loaded = registry.load_version(tmp_path, version)
    users, items = torch.tensor([0, 1, 2, 2]), torch.tensor([3, 2, 1, 0])
    with torch.no_grad():
        expected = artifact.build_model()(users, items)
        actual = loaded.build_model()(users, items)
    assert torch.equal(expected, actual)
    assert loaded.users == artifact.users and loaded.items == artifact.items


def test_activate_verified_refuses_a_truncated_artifact(db: Database, tmp_path: Path) -> None:
    good, bad = register(db, tmp_path, "good.pt"), register(db, tmp_path, "bad.pt")
    registry.activate(db, good.id)
    file = registry.artifact_file(tmp_path, bad)
    file.write_bytes(file.read_bytes()[:100])
    with pytest.raises(ArtifactError, match="corrupt or was replaced"):
        registry.activate_verified(db, tmp_path, bad.id)
    assert active_ids(db) == [good.id]


def test_activate_verified_refuses_a_missing_artifact(db: Database, tmp_path: Path) -> None:
    version = register(db, tmp_path, "gone.pt")
    registry.artifact_file(tmp_path, version).unlink()
    with pytest.raises(ArtifactError, match="missing"):
        registry.activate_verified(db, tmp_path, version.id)
    assert active_ids(db) == []


def test_activate_verified_refuses_an_incompatible_config(db: Database, tmp_path: Path) -> None:
    artifact = random_artifact([1, 2], [1, 2])
    # Weights of an 8-wide model saved under a config that says 16: the file's checksum is
    # right, but it cannot serve.
    artifact.model_config = ModelConfig(emb_size=16, n_hidden=8, dropout=0.0)
    path = tmp_path / "odd.pt"
    digest = save_artifact(artifact, path)
    version = registry.register_version(
        db, artifact_path=path, model_dir=tmp_path, sha256=digest, artifact=artifact, job_id=None
    )
    with pytest.raises(ArtifactError, match="incompatible"):
        registry.activate_verified(db, tmp_path, version.id)
    assert active_ids(db) == []


def test_activate_verified_activates_a_good_artifact(db: Database, tmp_path: Path) -> None:
    version = register(db, tmp_path, "ok.pt")
    assert registry.activate_verified(db, tmp_path, version.id).is_active
    with db.session() as session:
        assert session.scalar(select(func.count()).where(ModelVersion.is_active)) == 1
    with pytest.raises(UnknownModelVersion):
        registry.require_version(db, 12345)


def test_prune_keeps_the_active_and_the_newest_others(db: Database, tmp_path: Path) -> None:
    versions = [register(db, tmp_path, f"model-{k}.pt", seed=k) for k in range(6)]
    registry.activate(db, versions[1].id)
    old = tmp_path / ".model-9.pt.abc.tmp"  # an unfinished write of a killed trainer
    old.write_bytes(b"partial")
    fresh = tmp_path / "model-new.pt"  # written just now, not yet registered
    fresh.write_bytes(b"new")
    other = tmp_path / "notes.txt"
    other.write_text("not ours")
    os.utime(old, (0, 0))
    os.utime(other, (0, 0))

    preview = registry.prune_versions(db, tmp_path, keep=2, dry_run=True)
    doomed = [versions[3].id, versions[2].id, versions[0].id]
    assert preview.removed_versions == doomed
    assert len(registry.list_versions(db)) == 6 and old.exists()  # a dry run changes nothing

    report = registry.prune_versions(db, tmp_path, keep=2)
    assert report.removed_versions == doomed
    left = [v.id for v in registry.list_versions(db)]
    assert left == [versions[5].id, versions[4].id, versions[1].id]
    assert active_ids(db) == [versions[1].id]
    assert sorted(p.name for p in report.removed_files) == sorted(
        ["model-0.pt", "model-2.pt", "model-3.pt", old.name]
    )
    assert report.freed_bytes > 0 and "Pruned v4, v3, v1" in report.summary
    assert fresh.exists() and other.exists()
    for version in registry.list_versions(db):  # what is left still loads
        registry.load_version(tmp_path, version)
    with pytest.raises(UnknownModelVersion):
        registry.activate(db, versions[0].id)
    assert registry.prune_versions(db, tmp_path, keep=2).summary.startswith("Nothing to prune")
    report = registry.prune_versions(db, tmp_path, keep=0)
    assert [v.id for v in registry.list_versions(db)] == [versions[1].id]
