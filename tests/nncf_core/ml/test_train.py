"""train_model on a tiny planted structure: it learns, keeps its best epoch, reports,
reproduces with a seed, can be cancelled, and both backends agree."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from nncf_core.errors import InvalidInput, TrainingCancelled
from nncf_core.ml import kernels
from nncf_core.ml.artifacts import load_artifact, save_artifact
from nncf_core.ml.config import DENSE_DEFAULTS, LAZY_DEFAULTS, ModelConfig, TrainConfig
from nncf_core.ml.data import RatingsData
from nncf_core.ml.split import holdout_mask
from nncf_core.ml.train import EpochStats, evaluate, holdout_part, train_model

FAST = TrainConfig(
    model=ModelConfig(emb_size=16, n_hidden=8),
    epochs=15,
    batch_size=128,
    lr=0.01,
    holdout_fraction=0.2,
    patience=4,
)


def planted(n_users: int = 120, n_items: int = 80, per_user: int = 30) -> RatingsData:
    """Two user groups x two item groups, cell means [[4.5, 1.5], [3.5, 2.5]] plus noise:
    an item effect (+-1) and an interaction (+-0.5) with the user's group."""
    rng = np.random.default_rng(42)
    users = np.repeat(np.arange(n_users), per_user)
    items = np.concatenate([rng.choice(n_items, per_user, replace=False) for _ in range(n_users)])
    cell = np.array([[4.5, 1.5], [3.5, 2.5]])[users % 2, items % 2]
    stars = cell + rng.choice([-0.5, 0.0, 0.5], len(users))
    # Database ids are not rows: offset them.
    return RatingsData.from_arrays(users + 1000, items + 7, stars, 1_700_000_000 + users)


@pytest.fixture(scope="module")
def data() -> RatingsData:
    return planted()


@pytest.fixture(scope="module")
def result(data: RatingsData):  # type: ignore[no-untyped-def]
    return train_model(data, FAST)


def test_recovers_the_planted_structure(data: RatingsData, result) -> None:  # type: ignore[no-untyped-def]
    held = holdout_mask(data.user_ids, data.movie_ids, FAST.holdout_fraction)
    train_mean = data.stars[~held].mean()
    baseline = math.sqrt(np.mean((data.stars[held] - train_mean) ** 2))
    assert baseline > 1.1
    # Noise alone is 0.41; the item effect without the interaction leaves 0.65.
    assert result.holdout_rmse < 0.5
    assert result.holdout_rmse == result.artifact.metrics["holdout_rmse"]
    assert result.artifact.metrics["holdout_mae"] < result.holdout_rmse + 1e-9


def test_artifact_contents(data: RatingsData, result, tmp_path) -> None:  # type: ignore[no-untyped-def]
    artifact = result.artifact
    held = holdout_mask(data.user_ids, data.movie_ids, FAST.holdout_fraction)
    assert np.array_equal(artifact.users.ids, np.unique(data.user_ids[~held]))
    assert np.array_equal(artifact.items.ids, np.unique(data.movie_ids[~held]))
    assert artifact.n_ratings == data.n
    assert artifact.newest_rating_at == data.newest_rating_at
    assert artifact.global_mean == pytest.approx(data.stars[~held].mean(), abs=1e-5)
    assert artifact.train_config == FAST.as_dict()
    metrics = artifact.metrics
    assert metrics["epochs"] == len(metrics["curve"]) == len(result.curve)
    assert set(metrics["curve"][0]) == {"epoch", "train_loss", "holdout_rmse", "lr", "seconds"}
    assert metrics["samples_per_s"] > 0 and metrics["seconds"] > 0
    assert metrics["n_train"] + metrics["n_holdout"] == data.n
    # The kept weights are the best epoch's (later gains under min_delta do not count).
    kept = metrics["curve"][result.best_epoch - 1]
    assert metrics["best_epoch"] == kept["epoch"] == result.best_epoch
    assert metrics["holdout_rmse"] == pytest.approx(kept["holdout_rmse"], abs=1e-6)
    best = min(point["holdout_rmse"] for point in metrics["curve"])
    assert best > kept["holdout_rmse"] - FAST.min_delta
    # It round-trips and serves the same numbers.
    path = tmp_path / "model.pt"
    loaded = load_artifact(path, save_artifact(artifact, path))
    again = evaluate(loaded, holdout_part(data, FAST.holdout_fraction))
    assert again.rmse == pytest.approx(metrics["holdout_rmse"], abs=1e-5)
    assert again.n_known == metrics["n_holdout_known"]


def test_same_seed_same_model_other_seed_other(data: RatingsData) -> None:
    config = TrainConfig(**{**FAST.__dict__, "epochs": 2})
    first = train_model(data, config).artifact.state_dict
    second = train_model(data, config).artifact.state_dict
    third = train_model(data, TrainConfig(**{**config.__dict__, "seed": 1})).artifact.state_dict
    for name in first:
        assert torch.equal(first[name], second[name]), name
    assert not torch.equal(first["user_emb.weight"], third["user_emb.weight"])


@pytest.mark.skipif(not kernels.HAVE_NUMBA, reason="numba is not installed")
def test_lazy_backends_reach_the_same_accuracy_as_dense(data: RatingsData, result) -> None:  # type: ignore[no-untyped-def]
    assert result.artifact.metrics["optimizer"] == "dense"  # a small table: auto is dense
    fused = train_model(data, replace(FAST, optimizer="lazy"))
    assert (fused.artifact.metrics["optimizer"], fused.artifact.metrics["backend"]) == (
        "lazy",
        "fused",
    )
    plain = train_model(data, replace(FAST, optimizer="lazy", backend="torch"))
    assert plain.artifact.metrics["backend"] == "torch"
    assert plain.holdout_rmse == pytest.approx(fused.holdout_rmse, abs=0.03)
    assert fused.holdout_rmse == pytest.approx(result.holdout_rmse, abs=0.05)


def test_the_recipe_follows_the_table_size() -> None:
    config = TrainConfig()
    assert config.recipe(config.dense_max_values) == DENSE_DEFAULTS
    assert config.recipe(config.dense_max_values + 1) == LAZY_DEFAULTS
    assert replace(config, backend="fused").recipe(10).optimizer == "lazy"
    chosen = replace(config, optimizer="lazy", lr=0.1, batch_size=7).recipe(10)
    assert (chosen.optimizer, chosen.lr, chosen.batch_size) == ("lazy", 0.1, 7)
    assert chosen.weight_decay == LAZY_DEFAULTS.weight_decay
    with pytest.raises(InvalidInput, match="lazy"):
        replace(FAST, optimizer="dense", backend="fused")
    for bad in ({"epochs": 0}, {"batch_size": 0}, {"ema_epochs": -1.0}):
        with pytest.raises(InvalidInput):
            replace(FAST, **bad)


def test_configs_saved_before_the_dense_optimizer_stay_lazy() -> None:
    old = TrainConfig(lr=3e-3, weight_decay=0.03).as_dict()
    del old["optimizer"]
    assert TrainConfig.from_dict(old).recipe(10).optimizer == "lazy"
    assert TrainConfig.from_dict(TrainConfig().as_dict()).recipe(10).optimizer == "dense"


def test_on_epoch_and_cancel(data: RatingsData) -> None:
    seen: list[EpochStats] = []
    with pytest.raises(TrainingCancelled) as caught:
        train_model(data, FAST, on_epoch=seen.append, should_stop=lambda: len(seen) >= 2)
    assert caught.value.epoch == 2
    assert [s.epoch for s in seen] == [1, 2]
    assert seen[0].holdout_rmse is not None and seen[0].lr == FAST.lr


def test_threads_are_restored(data: RatingsData) -> None:
    before = torch.get_num_threads()
    train_model(data, TrainConfig(**{**FAST.__dict__, "epochs": 1, "threads": 1}))
    assert torch.get_num_threads() == before


def test_without_holdout_and_without_data(data: RatingsData) -> None:
    config = TrainConfig(**{**FAST.__dict__, "epochs": 2, "holdout_fraction": 0.0})
    outcome = train_model(data, config)
    assert outcome.holdout_rmse is None
    assert outcome.artifact.metrics["best_epoch"] == 2
    with pytest.raises(InvalidInput):
        train_model(RatingsData.empty(), FAST)


def test_divergence_is_reported(data: RatingsData) -> None:
    with pytest.raises(InvalidInput, match="diverged"):
        train_model(data, TrainConfig(**{**FAST.__dict__, "lr": 1e30, "epochs": 2}))


def test_progress_bar_shows_epoch_loss_and_rmse(
    data: RatingsData, capsys: pytest.CaptureFixture[str]
) -> None:
    train_model(data, TrainConfig(**{**FAST.__dict__, "epochs": 1}), progress=True)
    shown = capsys.readouterr().err
    assert "epoch 1/1" in shown
    assert "loss=" in shown and "holdout_rmse=" in shown
