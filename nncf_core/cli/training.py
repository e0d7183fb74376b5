"""`nncf-bot train`, `nncf-bot models ...`, `nncf-bot evaluate` and `nncf-bot predict`."""

from __future__ import annotations

import json
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from nncf_core.cli.common import echo, echo_json, open_core
from nncf_core.db.models import ModelVersion
from nncf_core.errors import ArtifactError
from nncf_core.ml import registry
from nncf_core.ml.artifacts import file_sha256
from nncf_core.ml.config import TrainConfig

if TYPE_CHECKING:
    from nncf_core.ml.distributed import DistContext

models_app = typer.Typer(
    help="Trained model versions: list, inspect, activate.", no_args_is_help=True
)


class Device(StrEnum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class Optimizer(StrEnum):
    auto = "auto"
    dense = "dense"
    lazy = "lazy"


class Backend(StrEnum):
    auto = "auto"
    fused = "fused"
    torch = "torch"


def _config(overrides: dict[str, Any], model: dict[str, Any]) -> TrainConfig:
    base = TrainConfig()
    chosen = {k: v for k, v in overrides.items() if v is not None}
    shape = {k: v for k, v in model.items() if v is not None}
    return replace(base, model=replace(base.model, **shape), **chosen)


def train(
    epochs: int | None = typer.Option(
        None, "--epochs", help="Most epochs (early stopping ends sooner)."
    ),
    emb_size: int | None = typer.Option(None, "--emb-size", help="Embedding width."),
    n_hidden: int | None = typer.Option(None, "--n-hidden", help="Hidden layer width."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Ratings per minibatch."),
    lr: float | None = typer.Option(None, "--lr", help="Peak learning rate."),
    weight_decay: float | None = typer.Option(None, "--weight-decay", help="L2 on embeddings."),
    optimizer: Optimizer = typer.Option(
        Optimizer.auto,
        "--optimizer",
        help="dense: Adam over every row (most accurate); lazy: only the rows a batch "
        "touches (fast on big tables); auto picks by table size.",
    ),
    device: Device = typer.Option(Device.auto, "--device", help="auto picks CUDA when present."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed."),
    threads: int | None = typer.Option(None, "--threads", help="Torch CPU threads."),
    backend: Backend = typer.Option(Backend.auto, "--backend", help="fused CPU kernels or torch."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    ddp: bool = typer.Option(
        False,
        "--ddp",
        help="Data-parallel over the processes torchrun starts, e.g. "
        "`torchrun --standalone --nproc-per-node 2 .venv/bin/nncf-bot train --ddp`.",
    ),
) -> None:
    """Train a model on all ratings now; it becomes active if it beats the active one."""
    from nncf_core.ml import distributed
    from nncf_core.ml.retrain import retrain

    config = _config(
        {
            "epochs": epochs,
            "batch_size": batch_size,
            "lr": lr,
            "weight_decay": weight_decay,
            "optimizer": optimizer.value,
            "device": device.value,
            "seed": seed,
            "threads": threads,
            "backend": backend.value,
        },
        {"emb_size": emb_size, "n_hidden": n_hidden},
    )
    context = distributed.init_from_env(config.device) if ddp else None
    try:
        if context is not None and not context.is_main:
            _follow(context, progress)
            return
        with open_core() as core:
            result = retrain(
                core.db,
                core.settings.model_dir,
                trigger="cli",
                requested_by="cli",
                config=config,
                progress=progress,
                distributed=context,
                keep_versions=core.settings.model_keep_versions,
            )
    finally:
        if context is not None:
            context.close()
    echo(result.summary)
    if result.status == "failed":
        raise typer.Exit(1)


def _follow(context: DistContext, progress: bool) -> None:
    """Rank > 0 of ``train --ddp``: rank 0 has the database, the job and the artifact."""
    from nncf_core.ml import distributed
    from nncf_core.ml.train import follow_training

    try:
        follow_training(context, progress=progress)
    except distributed.RunAborted:
        # Rank 0 failed before training and reports why; this rank only says it stopped.
        raise typer.Exit(1) from None


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


@models_app.command("list")
def list_models(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Every model version, newest first; * marks the active one."""
    with open_core() as core:
        versions = registry.list_versions(core.db)
    if as_json:
        echo_json([_summary(version) for version in versions])
        return
    if not versions:
        echo("No models yet. Run `nncf-bot train`.")
        return
    echo(f"{'id':>5}  {'':1}  {'created (UTC)':<19}  {'ratings':>10}  {'holdout RMSE':>12}  kind")
    for version in versions:
        echo(
            f"{version.id:>5}  {'*' if version.is_active else '':1}  "
            f"{version.created_at:%Y-%m-%d %H:%M:%S}  {version.n_ratings:>10,}  "
            f"{_fmt(version.holdout_rmse):>12}  {version.model_kind}"
        )


def _summary(version: ModelVersion) -> dict[str, Any]:
    return {
        "id": version.id,
        "active": version.is_active,
        "created_at": version.created_at,
        "activated_at": version.activated_at,
        "kind": version.model_kind,
        "n_ratings": version.n_ratings,
        "newest_rating_at": version.newest_rating_at,
        "holdout_rmse": version.holdout_rmse,
        "training_job_id": version.training_job_id,
        "artifact_path": version.artifact_path,
    }


def _artifact_state(model_dir: Path, version: ModelVersion) -> tuple[Path, str]:
    path = registry.artifact_file(model_dir, version)
    if not path.is_file():
        return path, "missing"
    if file_sha256(path) != version.sha256:
        return path, "checksum mismatch (corrupt or replaced)"
    try:
        registry.load_version(model_dir, version)
    except ArtifactError as error:
        return path, f"does not load: {error}"
    return path, "ok (checksum verified, loads)"


@models_app.command("show")
def show_model(
    version_id: int = typer.Argument(..., help="Model version id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """A version's config, metrics, data fingerprint and artifact state."""
    with open_core() as core:
        version = registry.require_version(core.db, version_id)
        path, state = _artifact_state(core.settings.model_dir, version)
    metrics = {k: v for k, v in version.metrics.items() if k != "curve"}
    curve = version.metrics.get("curve") or []
    if as_json:
        echo_json(
            _summary(version)
            | {"config": version.config, "metrics": version.metrics, "sha256": version.sha256}
            | {"artifact_file": str(path), "artifact_state": state}
        )
        return
    echo(f"Model v{version.id}{' (active)' if version.is_active else ''}, {version.model_kind}")
    echo(f"  created        {version.created_at:%Y-%m-%d %H:%M:%S} UTC")
    if version.activated_at is not None:
        echo(f"  activated      {version.activated_at:%Y-%m-%d %H:%M:%S} UTC")
    echo(f"  training job   #{version.training_job_id}" if version.training_job_id else "")
    echo(f"  data           {version.n_ratings:,} ratings, newest {version.newest_rating_at}")
    echo(f"  holdout RMSE   {_fmt(version.holdout_rmse)}")
    echo(f"  artifact       {path}")
    echo(f"  state          {state}")
    echo(f"  sha256         {version.sha256}")
    echo(f"  config         {json.dumps(version.config, sort_keys=True)}")
    echo(f"  metrics        {json.dumps(metrics, sort_keys=True, default=str)}")
    if curve:
        points = ", ".join(f"{p['epoch']}: {_fmt(p.get('holdout_rmse'))}" for p in curve)
        echo(f"  curve          epoch: holdout RMSE  {points}")


@models_app.command("activate")
def activate_model(version_id: int = typer.Argument(..., help="Model version id.")) -> None:
    """Serve this version (overrides the promotion gate); its artifact must verify and load."""
    with open_core() as core:
        version = registry.activate_verified(core.db, core.settings.model_dir, version_id)
    echo(f"Model v{version.id} is now active.")


@models_app.command("prune")
def prune_models(
    keep: int | None = typer.Option(
        None,
        "--keep",
        min=0,
        help="Inactive versions to keep, newest first (default: MODEL_KEEP_VERSIONS, 10 when "
        "that is `all`).",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would be removed."),
) -> None:
    """Remove old model versions (row and artifact); the active one is always kept."""
    with open_core() as core:
        chosen = keep if keep is not None else core.settings.model_keep_versions
        report = registry.prune_versions(
            core.db, core.settings.model_dir, keep=10 if chosen is None else chosen, dry_run=dry_run
        )
    if dry_run:
        ids = ", ".join(f"v{i}" for i in report.removed_versions) or "no versions"
        echo(
            f"Would remove {ids} and {len(report.removed_files)} file(s), "
            f"{report.freed_bytes / 1e6:,.1f} MB."
        )
        for path in report.removed_files:
            echo(f"  {path}")
        return
    echo(report.summary)


def evaluate(
    model: int | None = typer.Option(None, "--model", help="Version id (default: the active one)."),
    retrain_ranking: bool | None = typer.Option(
        None,
        "--retrain-ranking/--no-retrain-ranking",
        help="Also train the model's config without the held-out items for honest ranking "
        "numbers (default: on up to 200k ratings).",
    ),
    k: int = typer.Option(10, "--k", help="Cut-off of HR@k and NDCG@k."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """RMSE/MAE on the hash holdout, HR@k/NDCG@k on a leave-last-out split, with baselines."""
    from nncf_core.ml.evaluate import evaluate_model

    with open_core() as core:
        report = evaluate_model(
            core.db, core.settings.model_dir, model, retrain_ranking=retrain_ranking, k=k
        )
    if as_json:
        echo_json(report.as_dict())
        return
    echo(
        f"Model v{report.model_version_id} on {report.n_ratings:,} ratings "
        f"({report.seconds:.1f} s):"
    )
    echo(report.table())


def predict(
    source: Path = typer.Option(..., "--input", help="CSV with userId,movieId (MovieLens ids)."),
    target: Path = typer.Option(..., "--output", help="Where to write userId,movieId,prediction."),
    model: int | None = typer.Option(None, "--model", help="Version id (default: the active one)."),
) -> None:
    """Predict the stars of MovieLens (userId, movieId) pairs from a CSV file."""
    from nncf_core.ml.evaluate import predict_file

    with open_core() as core:
        summary = predict_file(core.db, core.settings.model_dir, source, target, model)
    echo(str(summary))


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.add_typer(models_app, name="models")
    app.command("evaluate")(evaluate)
    app.command("predict")(predict)
