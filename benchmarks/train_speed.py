"""Training throughput on synthetic ratings: stock PyTorch strategies against the trainer's.

One epoch each over the training part of synthetic ratings (default 5M ratings,
200,000 users, 50,000 movies, power-law popularity; see ``synthetic.py``), one
torch thread, the same architecture, initialisation, learning rate and hash
holdout. Reported: samples/s of the training pass, the ratio to stock SparseAdam
measured in the same run, holdout RMSE after the epoch, and the projected time
of 10 epochs over 25M ratings. The slow strategies are stopped after
``--cap`` seconds (their RMSE is then not comparable and left out).

The like-for-like pair is ``sparse+SparseAdam`` and ``fused`` / ``torch-lazy``
with ``weight_decay=0`` (SparseAdam cannot decay): same update rule, so the same
holdout RMSE is expected. ``fused (defaults)`` adds the default row decay, ``+ EMA``
the weight average (its cost only). These tables are far above ``dense_max_values``,
so they train with the lazy optimizer, whose settings are used here.
First-compile cost of the numba kernels is measured in fresh processes, with an
empty cache and with the cache that ``cache=True`` leaves behind.

    .venv/bin/python benchmarks/train_speed.py [--ratings 5000000] [--cap 30]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset

from nncf_core.ml.config import LAZY_DEFAULTS, TrainConfig
from nncf_core.ml.data import RatingsData
from nncf_core.ml.metrics import rmse
from nncf_core.ml.model import NNCollabFiltering
from nncf_core.ml.train import TrainSplit, predict, split_ratings, train_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import synthetic_ratings

PROJECT_RATINGS = 25_000_000
PROJECT_EPOCHS = 10


@dataclass
class Row:
    name: str
    batch: int
    samples_per_s: float
    rmse: float | None


def cached_synthetic(n: int, users: int, items: int) -> RatingsData:
    path = Path(tempfile.gettempdir()) / f"nncf-bench-synthetic-{n}-{users}-{items}.npz"
    if path.exists():
        arrays = np.load(path)
        return RatingsData(arrays["u"], arrays["m"], arrays["s"], arrays["t"])
    data = synthetic_ratings(n, users, items)
    np.savez(path, u=data.user_ids, m=data.movie_ids, s=data.stars, t=data.timestamps)
    return data


def stock_model(split: TrainSplit, config: TrainConfig, sparse: bool) -> NNCollabFiltering:
    torch.manual_seed(config.seed)
    model = NNCollabFiltering(len(split.users), len(split.items), config.model)
    emb = config.model.emb_size
    model.user_emb = nn.Embedding(len(split.users), emb, sparse=sparse)
    model.item_emb = nn.Embedding(len(split.items), emb, sparse=sparse)
    with torch.no_grad():
        nn.init.normal_(model.user_emb.weight, 0.0, config.init_std)
        nn.init.normal_(model.item_emb.weight, 0.0, config.init_std)
        model.lin2.bias.fill_(float(split.train_y.mean()))
    return model


def stock_epoch(
    split: TrainSplit, config: TrainConfig, batch: int, sparse: bool, cap: float | None
) -> tuple[float, float | None]:
    """One epoch of stock PyTorch; (samples/s, holdout RMSE or None when capped)."""
    model = stock_model(split, config, sparse)
    embeddings = [model.user_emb.weight, model.item_emb.weight]
    mlp = [p for name, p in model.named_parameters() if "emb" not in name]
    if sparse:
        optimizers: list[torch.optim.Optimizer] = [
            torch.optim.SparseAdam(embeddings, lr=config.lr),
            torch.optim.Adam(mlp, lr=config.lr),
        ]
    else:
        optimizers = [
            torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        ]
    order = np.random.default_rng(config.seed).permutation(len(split.train_y))
    users = torch.from_numpy(split.train_u[order])
    items = torch.from_numpy(split.train_i[order])
    targets = torch.from_numpy(split.train_y[order])
    model.train()
    started = time.perf_counter()
    done = 0
    for start in range(0, len(order), batch):
        stop = start + batch
        loss = F.mse_loss(model(users[start:stop], items[start:stop]), targets[start:stop])
        for optimizer in optimizers:
            optimizer.zero_grad()
        loss.backward()
        for optimizer in optimizers:
            optimizer.step()
        done += len(targets[start:stop])
        if cap is not None and time.perf_counter() - started > cap:
            return done / (time.perf_counter() - started), None
    speed = done / (time.perf_counter() - started)
    predicted = predict(model, split.hold_u, split.hold_i)
    return speed, rmse(predicted, split.hold_y)


class _PerSample(Dataset[tuple[int, int, float]]):
    def __init__(self, split: TrainSplit) -> None:
        self.split = split

    def __len__(self) -> int:
        return len(self.split.train_y)

    def __getitem__(self, k: int) -> tuple[int, int, float]:
        return int(self.split.train_u[k]), int(self.split.train_i[k]), float(self.split.train_y[k])


def feed_only(split: TrainSplit, batch: int, cap: float, per_sample: bool) -> float:
    """Samples/s of producing batches alone (no training)."""
    started = time.perf_counter()
    done = 0
    if per_sample:
        loader = DataLoader(_PerSample(split), batch_size=batch, shuffle=True)
        for u, _, _ in loader:
            done += len(u)
            if time.perf_counter() - started > cap:
                break
    else:
        order = torch.from_numpy(np.random.default_rng(0).permutation(len(split.train_y)))
        users, items = torch.from_numpy(split.train_u), torch.from_numpy(split.train_i)
        targets = torch.from_numpy(split.train_y)
        for start in range(0, len(order), batch):
            index = order[start : start + batch]
            produced = (users[index], items[index], targets[index])
            done += len(produced[0])
    return done / (time.perf_counter() - started)


def ours(data: RatingsData, config: TrainConfig) -> tuple[float, float | None]:
    result = train_model(data, replace(config, epochs=1))
    return result.artifact.metrics["samples_per_s"], result.holdout_rmse


def compile_seconds(cold: bool) -> float:
    """Seconds to make the fused kernels ready in a fresh process."""
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as cache:
        if cold:
            env["NUMBA_CACHE_DIR"] = cache
        code = "from nncf_core.ml.kernels import warm_up_kernels as w; print(w())"
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratings", type=int, default=5_000_000)
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--movies", type=int, default=50_000)
    parser.add_argument("--cap", type=float, default=30.0, help="seconds for slow strategies")
    parser.add_argument("--batches", type=int, nargs="*", default=[2048, 8192, 16384, 32768])
    args = parser.parse_args()
    torch.set_num_threads(1)
    cold, warm = compile_seconds(cold=True), compile_seconds(cold=False)
    print(f"numba kernels: first compile {cold:.1f} s, from cache {warm:.2f} s")
    data = cached_synthetic(args.ratings, args.users, args.movies)
    # The lazy optimizer's settings (a table this large trains lazy under "auto").
    base = replace(TrainConfig(), threads=1, optimizer="lazy", lr=LAZY_DEFAULTS.lr)
    plain = replace(base, weight_decay=0.0, mlp_weight_decay=0.0, ema_epochs=0.0)
    split = split_ratings(data, base.holdout_fraction)
    print(
        f"{data.n} ratings ({len(split.train_y)} train, {len(split.hold_y)} holdout), "
        f"{len(split.users)} users, {len(split.items)} movies; lr {base.lr}, 1 epoch, 1 thread"
    )
    rows: list[Row] = []

    def add(name: str, batch: int, run: Callable[[], tuple[float, float | None]]) -> None:
        speed, value = run()
        rows.append(Row(name, batch, speed, value))
        shown = "-" if value is None else f"{value:.4f}"
        print(f"  {name:<24} batch {batch:>6}: {speed:>10,.0f} samples/s  RMSE {shown}", flush=True)

    add("feed: per-sample loader", 8192, lambda: (feed_only(split, 8192, args.cap, True), None))
    add("feed: index slicing", 8192, lambda: (feed_only(split, 8192, args.cap, False), None))
    add("dense+Adam", 65536, lambda: stock_epoch(split, plain, 65536, False, args.cap))
    add("sparse+SparseAdam", 8192, lambda: stock_epoch(split, plain, 8192, True, None))
    add("torch-lazy (wd 0)", 8192, lambda: ours(data, replace(plain, backend="torch")))
    add("fused (wd 0)", 8192, lambda: ours(data, replace(plain, backend="fused")))
    for batch in args.batches:
        config = replace(base, backend="fused", batch_size=batch)
        add("fused (defaults)", batch, lambda config=config: ours(data, config))
    # Weight averaging starts after the first epoch by default; from the first here,
    # so that its cost is in the one epoch measured. Its RMSE after one epoch says
    # nothing (the average still remembers the initial weights), so none is shown.
    averaged = replace(base, backend="fused", ema_start_epoch=0)
    add(
        "fused (defaults) + EMA",
        LAZY_DEFAULTS.batch_size,
        lambda: (ours(data, averaged)[0], None),
    )
    reference = next(r for r in rows if r.name == "sparse+SparseAdam")
    n_train = PROJECT_RATINGS * (1 - base.holdout_fraction)
    print()
    print(
        f"{'strategy':<24} {'batch':>6} {'samples/s':>11} {'x SparseAdam':>12} "
        f"{'RMSE 1 ep':>9} {'10 ep x 25M':>11}"
    )
    for row in rows:
        ratio = row.samples_per_s / reference.samples_per_s
        projected = PROJECT_EPOCHS * n_train / row.samples_per_s / 60
        shown = "-" if row.rmse is None else f"{row.rmse:.4f}"
        print(
            f"{row.name:<24} {row.batch:>6} {row.samples_per_s:>11,.0f} {ratio:>11.2f}x "
            f"{shown:>9} {projected:>9.1f} min"
        )


if __name__ == "__main__":
    main()
