"""`nncf-bot train / models / evaluate / predict` through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nncf_core.cli import main
from nncf_core.db.engine import Database
from nncf_core.ml import registry, retrain
from tests.nncf_core.ml.registry_data import seed_ratings

TINY = [
    "--epochs",
    "15",
    "--emb-size",
    "8",
    "--n-hidden",
    "8",
    "--batch-size",
    "64",
    "--lr",
    "0.05",
    "--device",
    "cpu",
    "--backend",
    "torch",
    "--no-progress",
]


@pytest.fixture
def env(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    """DATABASE_URL and MODEL_DIR for the CLI (each command builds fresh Settings)."""
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    db = Database(sqlite_url)
    seed_ratings(db)
    return db


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        code = main(list(args))
    except SystemExit as stop:  # typer.Exit and usage errors
        code = int(stop.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_train_promotes_then_rejects_a_worse_model(
    env: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "train", *TINY)
    assert code == 0 and "promoted: v1 is now active" in out
    code, out, _ = cli(capsys, "train", *TINY, "--lr", "0")
    assert code == 0 and "rejected: v1 stays active" in out
    code, out, _ = cli(capsys, "models", "list")
    assert code == 0
    rows = [line.split() for line in out.splitlines()[1:]]
    assert rows[0][0] == "2" and rows[0][1] != "*"  # the rejected one is not active
    assert rows[1][:2] == ["1", "*"]
    assert rows[1][-1] == "nncf"
    code, out, _ = cli(capsys, "models", "show", "1")
    assert code == 0 and "(active)" in out and "ok (checksum verified, loads)" in out
    assert '"emb_size": 8' in out and "holdout RMSE" in out
    code, out, _ = cli(capsys, "models", "list", "--json")
    assert [item["active"] for item in json.loads(out)] == [False, True]


def test_models_activate_overrides_and_refuses_broken_files(
    env: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "train", *TINY)[0] == 0
    assert cli(capsys, "train", *TINY, "--lr", "0")[0] == 0
    code, out, _ = cli(capsys, "models", "activate", "2")
    assert code == 0 and "v2 is now active" in out
    assert registry.active_version(env).id == 2  # type: ignore[union-attr]
    file = registry.artifact_file(tmp_path / "models", registry.get_version(env, 1))  # type: ignore[arg-type]
    file.write_bytes(file.read_bytes()[:-50])
    code, out, err = cli(capsys, "models", "show", "1")
    assert code == 0 and "checksum mismatch" in out
    code, _, err = cli(capsys, "models", "activate", "1")
    assert code == 1 and "error: " in err and "corrupt" in err
    assert registry.active_version(env).id == 2  # type: ignore[union-attr]
    code, _, err = cli(capsys, "models", "show", "42")
    assert code == 1 and "no model version 42" in err


def test_a_failed_training_exits_1(
    env: Database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def explode(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(retrain, "train_model", explode)
    code, out, _ = cli(capsys, "train", *TINY)
    assert code == 1 and "failed" in out and "RuntimeError: boom" in out
    assert cli(capsys, "models", "list")[1].startswith("No models yet")


def test_evaluate_and_predict(
    env: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "train", *TINY)[0] == 0
    code, out, _ = cli(capsys, "evaluate", "--no-retrain-ranking", "--k", "5")
    assert code == 0 and "HR@5" in out and "user + item bias" in out and "optimistic" in out
    code, out, _ = cli(capsys, "evaluate", "--json", "--model", "1", "--no-retrain-ranking")
    report = json.loads(out)
    assert report["model_version_id"] == 1 and report["rows"][0]["rmse"] > 0
    pairs, predictions = tmp_path / "pairs.csv", tmp_path / "predictions.csv"
    pairs.write_text("userId,movieId\n1,1\n3,2\n5000,1\n")
    code, out, _ = cli(capsys, "predict", "--input", str(pairs), "--output", str(predictions))
    assert code == 0 and "3 pairs scored" in out and "1 with an unknown user" in out
    assert len(predictions.read_text().splitlines()) == 4
    pairs.write_text("userId,movieId\nx,1\n")
    predictions.unlink()
    code, _, err = cli(capsys, "predict", "--input", str(pairs), "--output", str(predictions))
    assert code == 1 and "userId 'x' is not an integer" in err
    assert not predictions.exists()


def test_old_versions_are_pruned_after_training_and_on_request(
    env: Database,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODEL_KEEP_VERSIONS", "1")
    assert cli(capsys, "train", *TINY)[0] == 0
    for _ in range(2):
        code, out, _ = cli(capsys, "train", *TINY, "--lr", "0")
        assert code == 0 and "rejected: v1 stays active" in out
    # The active v1 and the newest other (v3) are kept; v2 went with its file.
    assert [v.id for v in registry.list_versions(env)] == [3, 1]
    assert len(list((tmp_path / "models").glob("model-*.pt"))) == 2
    code, out, _ = cli(capsys, "models", "prune", "--keep", "0", "--dry-run")
    assert code == 0 and out.startswith("Would remove v3 and 1 file(s)")
    code, out, _ = cli(capsys, "models", "prune", "--keep", "0")
    assert code == 0 and out.startswith("Pruned v3 and 1 file(s)")
    assert [v.id for v in registry.list_versions(env)] == [1]
    code, out, _ = cli(capsys, "models", "prune", "--keep", "-1")
    assert code == 2  # refused by the option's range, before anything runs
