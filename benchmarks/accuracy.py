"""Validation RMSE on ml-latest-small: the reference recipe against the project's training.

The reference split: ``np.random.seed(3); msk = np.random.rand(len(df)) < 0.8``;
validation rows whose user or movie is not in the training part are dropped; ids
are encoded to contiguous rows from the training part. Both contenders train the
same architecture (emb 100, hidden 10, dropout 0.1) on the training part only:

* reference: full-batch Adam, 15 epochs at lr 0.05, 10 at 0.01, 2 x 10 at 0.001
  (a fresh Adam each stage), weight decay 1e-6, default (N(0, 1)) embeddings.
* project: ``train_model`` with ``TrainConfig()`` (or overrides), which carves its
  own hash holdout out of the training part for early stopping; the validation
  set is never looked at during training. Validation rows whose user or movie
  fell only into that holdout get the model's global mean.

Prints each run and mean +- standard deviation over the seeds.

    .venv/bin/python benchmarks/accuracy.py [--seeds 3] [--set lr=0.003 --set batch_size=1024]
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from nncf_core.ml.config import ModelConfig, TrainConfig
from nncf_core.ml.data import RatingsData
from nncf_core.ml.metrics import rmse
from nncf_core.ml.model import NNCollabFiltering
from nncf_core.ml.train import predict, torch_threads, train_model

ROOT = Path(__file__).resolve().parents[1]
MOVIELENS_SMALL = ROOT.parent / "shared" / "data" / "ml-latest-small"
REFERENCE_STAGES = ((15, 0.05), (10, 0.01), (10, 0.001), (10, 0.001))


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    valid: pd.DataFrame
    """With ``u``/``i`` columns: rows encoded from the training part."""
    n_users: int
    n_items: int


def reference_split(path: Path = MOVIELENS_SMALL) -> Split:
    frame = pd.read_csv(path / "ratings.csv")
    np.random.seed(3)
    msk = np.random.rand(len(frame)) < 0.8
    train, valid = frame[msk].copy(), frame[~msk].copy()
    users = {u: k for k, u in enumerate(train.userId.unique())}
    items = {m: k for k, m in enumerate(train.movieId.unique())}
    valid = valid[valid.userId.isin(users) & valid.movieId.isin(items)].copy()
    for part in (train, valid):
        part["u"] = part.userId.map(users).astype(np.int64)
        part["i"] = part.movieId.map(items).astype(np.int64)
    return Split(train, valid, len(users), len(items))


def reference_rmse(split: Split, seed: int) -> tuple[float, float]:
    """The reference recipe; returns (validation RMSE, training seconds)."""
    torch.manual_seed(seed)
    model = NNCollabFiltering(split.n_users, split.n_items, ModelConfig())
    u = torch.tensor(split.train.u.values)
    i = torch.tensor(split.train.i.values)
    y = torch.tensor(split.train.rating.values, dtype=torch.float32)
    started = time.perf_counter()
    for epochs, lr in REFERENCE_STAGES:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-6)
        model.train()
        for _ in range(epochs):
            loss = F.mse_loss(model(u, i), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    seconds = time.perf_counter() - started
    predicted = predict(model, split.valid.u.values, split.valid.i.values)
    return rmse(predicted, split.valid.rating.values), seconds


def project_rmse(split: Split, config: TrainConfig) -> tuple[float, float, int]:
    """``train_model`` on the training part; (validation RMSE, seconds, best epoch)."""
    train = split.train
    data = RatingsData.from_arrays(train.userId, train.movieId, train.rating, train.timestamp)
    result = train_model(data, config)
    artifact = result.artifact
    users = artifact.users.rows(split.valid.userId.values)
    items = artifact.items.rows(split.valid.movieId.values)
    predicted = predict(artifact, users, items)  # unknown -> the global mean
    return rmse(predicted, split.valid.rating.values), result.seconds, result.best_epoch


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    types = {f.name: f.type for f in fields(TrainConfig)}
    out: dict[str, Any] = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        if name not in types or name == "model":
            raise SystemExit(f"unknown TrainConfig field {name!r}")
        kind = str(types[name])
        out[name] = int(value) if kind == "int" else float(value) if kind == "float" else value
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--set", action="append", default=[], help="TrainConfig field=value")
    parser.add_argument("--skip-reference", action="store_true")
    args = parser.parse_args()
    split = reference_split()
    config = replace(TrainConfig(), **parse_overrides(args.set))
    print(f"train {len(split.train)} ratings, validation {len(split.valid)}")
    print(f"project config: {config.as_dict()}")
    rows: dict[str, list[float]] = {"reference": [], "project": []}
    for seed in range(args.seeds):
        if not args.skip_reference:
            with torch_threads(config.threads):
                value, seconds = reference_rmse(split, seed)
            rows["reference"].append(value)
            print(f"reference seed {seed}: RMSE {value:.4f} ({seconds:.1f} s)")
        value, seconds, best = project_rmse(split, replace(config, seed=seed))
        rows["project"].append(value)
        print(f"project   seed {seed}: RMSE {value:.4f} ({seconds:.1f} s, best epoch {best})")
    for name, values in rows.items():
        if values:
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            print(f"{name:>9}: mean RMSE {statistics.mean(values):.4f} +- {spread:.4f}")


if __name__ == "__main__":
    main()
