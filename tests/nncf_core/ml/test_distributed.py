"""Data-parallel training: two CPU processes with gloo train as well as one process,
their replicas stay identical, and `nncf-bot train --ddp` runs under torchrun."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from nncf_core.db.engine import Database
from nncf_core.ml import kernels, registry
from nncf_core.ml.config import TrainConfig
from nncf_core.ml.distributed import init_from_env
from nncf_core.ml.train import follow_training, train_model
from tests.nncf_core.cli.test_training_cli import TINY
from tests.nncf_core.ml.registry_data import seed_ratings
from tests.nncf_core.ml.test_train import FAST, planted

WORLD = 2
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rank(rank: int, port: int, config: TrainConfig, out: Path) -> None:
    """One process of the job, joined through torchrun's environment variables."""
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(WORLD),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    context = init_from_env("cpu")
    try:
        if context.is_main:
            result = train_model(planted(), config, distributed=context)
            state = result.artifact.state_dict
            torch.save(
                {"rmse": result.holdout_rmse, "metrics": result.artifact.metrics}, out / "r0.pt"
            )
        else:
            state = follow_training(context)
        torch.save(state, out / f"state{rank}.pt")
    finally:
        context.close()


@pytest.mark.parametrize(
    ("optimizer", "backend"),
    [
        pytest.param(
            "lazy",
            "fused",
            marks=pytest.mark.skipif(not kernels.HAVE_NUMBA, reason="needs numba"),
        ),
        ("lazy", "torch"),
        ("dense", "torch"),
    ],
)
def test_two_processes_train_as_well_as_one(optimizer: str, backend: str, tmp_path: Path) -> None:
    # Fewer, larger batches than FAST: every step costs a few collectives.
    config = replace(
        FAST, optimizer=optimizer, backend=backend, device="cpu", min_batches_per_epoch=16
    )
    mp.spawn(_rank, args=(free_port(), config, tmp_path), nprocs=WORLD, join=True)
    summary = torch.load(tmp_path / "r0.pt", weights_only=False)
    single = train_model(planted(), config)

    # Same global batch, steps and schedule as one process: only dropout masks and the
    # order of float sums differ, so the quality matches within seed-to-seed noise.
    assert summary["metrics"]["world_size"] == WORLD
    assert summary["metrics"]["optimizer"] == optimizer
    assert summary["metrics"]["batch_size"] == single.artifact.metrics["batch_size"]
    assert summary["rmse"] < 0.5  # learnt the planted structure (global mean: > 1.1)
    assert summary["rmse"] == pytest.approx(single.holdout_rmse, abs=0.03)
    # The replicas took the same steps: rank 1's weights are rank 0's, bit for bit.
    zero = torch.load(tmp_path / "state0.pt", weights_only=True)
    one = torch.load(tmp_path / "state1.pt", weights_only=True)
    assert zero.keys() == one.keys()
    for name, tensor in zero.items():
        assert torch.equal(tensor, one[name]), name


def _torchrun_env(url: str, model_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "MODEL_DIR": str(model_dir),
        "LOG_LEVEL": "WARNING",
        "OMP_NUM_THREADS": "1",
    }


def _torchrun(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={WORLD}",
        str(BIN / "nncf-bot"),
        *args,
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)


def test_train_ddp_under_torchrun_registers_and_promotes(sqlite_url: str, tmp_path: Path) -> None:
    db = Database(sqlite_url)
    seed_ratings(db)
    done = _torchrun("train", "--ddp", *TINY, env=_torchrun_env(sqlite_url, tmp_path / "m"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "promoted: v1 is now active" in done.stdout
    versions = registry.list_versions(db)
    assert len(versions) == 1 and versions[0].is_active
    assert versions[0].metrics["world_size"] == WORLD
    assert versions[0].holdout_rmse is not None and versions[0].holdout_rmse < 0.9
    assert len(list((tmp_path / "m").glob("*.pt"))) == 1  # only rank 0 saved


def test_ddp_rank0_failure_before_training_stops_every_rank(
    sqlite_url: str, tmp_path: Path
) -> None:
    # No ratings: rank 0's job fails while it prepares; the other rank must not hang.
    done = _torchrun("train", "--ddp", *TINY, env=_torchrun_env(sqlite_url, tmp_path / "m"))
    assert done.returncode != 0
    assert "There are no ratings to train on" in done.stdout
    job = registry_jobs(sqlite_url)
    assert [j.status for j in job] == ["failed"]


def registry_jobs(url: str) -> list:  # type: ignore[type-arg]
    from sqlalchemy import select

    from nncf_core.db.models import TrainingJob

    with Database(url).session() as session:
        return list(session.scalars(select(TrainingJob)))


def test_ddp_without_torchrun_says_how_to_launch(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    done = subprocess.run(
        [str(BIN / "nncf-bot"), "train", "--ddp", "--no-progress"],
        env=_torchrun_env(sqlite_url, tmp_path / "m"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "torchrun --standalone --nproc-per-node 2" in done.stdout + done.stderr
    assert registry_jobs(sqlite_url) == []
