"""Synthetic ratings for the benchmarks: power-law popularity, planted latent structure.

Users' activity and movies' popularity follow Zipf-like laws (a few very busy
users and blockbusters, a long tail); stars come from biases plus a low-rank
taste model plus noise, rounded to half stars, so that accuracy numbers mean
something. Pairs are unique, as in the ratings table.
"""

from __future__ import annotations

import numpy as np

from nncf_core.ml.data import RatingsData


def power_law_weights(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** exponent
    rng.shuffle(weights)  # popularity must not follow the id order
    return weights / weights.sum()


def synthetic_ratings(
    n_ratings: int = 5_000_000,
    n_users: int = 200_000,
    n_items: int = 50_000,
    *,
    seed: int = 0,
    rank: int = 8,
) -> RatingsData:
    """``n_ratings`` unique (user, movie) ratings; user ids 1..n_users, movie ids 1..n_items."""
    rng = np.random.default_rng(seed)
    user_p = power_law_weights(n_users, 0.6, rng)
    item_p = power_law_weights(n_items, 0.9, rng)
    keys = np.empty(0, dtype=np.int64)
    while len(keys) < n_ratings:
        draw = int((n_ratings - len(keys)) * 1.3) + 1000
        users = rng.choice(n_users, draw, p=user_p)
        items = rng.choice(n_items, draw, p=item_p)
        keys = np.unique(np.concatenate([keys, users.astype(np.int64) * n_items + items]))
    keys = rng.permutation(keys)[:n_ratings]
    users, items = keys // n_items, keys % n_items
    user_bias = rng.normal(0.0, 0.4, n_users)
    item_bias = rng.normal(0.0, 0.5, n_items)
    user_taste = rng.normal(0.0, 1.0 / np.sqrt(rank), (n_users, rank)).astype(np.float32)
    item_taste = rng.normal(0.0, 0.8, (n_items, rank)).astype(np.float32)
    taste = np.einsum("nk,nk->n", user_taste[users], item_taste[items])
    raw = 3.5 + user_bias[users] + item_bias[items] + taste + rng.normal(0.0, 0.6, n_ratings)
    stars = np.clip(np.round(raw * 2) / 2, 0.5, 5.0)
    timestamps = 1_600_000_000 + rng.integers(0, 100_000_000, n_ratings)
    return RatingsData(users + 1, items + 1, stars, timestamps)
