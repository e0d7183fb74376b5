"""Seed-to-seed noise of the promotion gate's holdout RMSE, to size its tolerance.

Trains the default config on ml-latest-small with several seeds (same data, same
hash holdout) and prints each seed's gate RMSE (every holdout rating; pairs the
model does not know get its global mean, as in the gate) and their spread. Two
runs that differ only in the seed are "equally good": the gate's tolerance must
sit below their typical difference, or a pure reshuffle could replace a model
that is in fact better, and above the difference that rounding alone makes.

    .venv/bin/python benchmarks/gate_tolerance.py [--seeds 5] [--epochs 30]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from nncf_core.ml.config import TrainConfig
from nncf_core.ml.data import RatingsData
from nncf_core.ml.retrain import gate_rmse
from nncf_core.ml.split import holdout_mask
from nncf_core.ml.train import train_model

ROOT = Path(__file__).resolve().parents[1]
MOVIELENS_SMALL = ROOT.parent / "shared" / "data" / "ml-latest-small"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=TrainConfig().epochs)
    parser.add_argument("--data", type=Path, default=MOVIELENS_SMALL)
    args = parser.parse_args()
    frame = pd.read_csv(args.data / "ratings.csv")
    data = RatingsData.from_arrays(frame.userId, frame.movieId, frame.rating, frame.timestamp)
    base = replace(TrainConfig(), epochs=args.epochs)
    held = data.subset(holdout_mask(data.user_ids, data.movie_ids, base.holdout_fraction))
    print(f"{data.n} ratings, {held.n} held out; default config, {args.epochs} epochs max")
    print(f"{'seed':>4} {'gate RMSE':>10} {'train RMSE':>10} {'epochs':>6} {'seconds':>8}")
    scores = []
    for seed in range(args.seeds):
        started = time.perf_counter()
        result = train_model(data, replace(base, seed=seed))
        score = gate_rmse(result.artifact, held)
        scores.append(score)
        print(
            f"{seed:>4} {score:>10.4f} {result.holdout_rmse:>10.4f} "
            f"{result.artifact.metrics['epochs']:>6} {time.perf_counter() - started:>8.1f}"
        )
    gaps = [abs(a - b) for a, b in itertools.combinations(scores, 2)]
    print(
        f"std of gate RMSE over seeds: {statistics.stdev(scores):.4f}; pairwise |diff| "
        f"median {statistics.median(gaps):.4f}, min {min(gaps):.4f}, max {max(gaps):.4f}; "
        f"range {max(scores) - min(scores):.4f}"
    )
    print(f"mean {np.mean(scores):.4f}")


if __name__ == "__main__":
    main()
