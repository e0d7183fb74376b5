"""Synthetic catalogues and models for the recommender tests.

``seed_planted`` makes a catalogue with a planted structure: three genres, and
users who each love one genre and dislike the others. ``planted_model`` is a
network built by hand that encodes exactly that structure (so most tests do
not depend on the trainer, which other work changes); ``train_planted`` trains
a real one with ``train_model``. ``random_artifact`` makes a model with random
weights, for exactness tests where only the algebra matters.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import torch

from nncf_core.db.engine import Database
from nncf_core.ml.artifacts import ModelArtifact, save_artifact
from nncf_core.ml.config import ModelConfig, TrainConfig
from nncf_core.ml.data import load_ratings
from nncf_core.ml.model import NNCollabFiltering
from nncf_core.ml.registry import activate, register_version
from nncf_core.ml.train import train_model
from nncf_core.ml.vocab import Vocabulary
from tests.synthetic import START, insert_dataset, rating_row

GENRES = ("Sci-Fi", "Romance", "Comedy")
PER_GENRE = 16
N_USERS = 90

PLANTED_TRAIN = TrainConfig(
    model=ModelConfig(emb_size=16, n_hidden=8, dropout=0.0),
    epochs=25,
    batch_size=256,
    lr=0.005,
    weight_decay=1e-4,
    init_std=0.1,
    patience=25,
    holdout_fraction=0.1,
    device="cpu",
    backend="torch",
)
PLANTED_RMSE = 0.8
"""A model that learned the planted data beats this holdout RMSE (the genre gap is 3)."""


def movie_genre(movie_id: int) -> str:
    return GENRES[(movie_id - 1) // PER_GENRE]


def seed_planted(db: Database, *, seed: int = 0) -> int:
    """Movies 1..48 (16 per genre), users movielens:1..90 (a third love each genre).

    Returns the number of ratings. ``updated_at`` grows one hour per rating."""
    rng = np.random.default_rng(seed)
    n_movies = PER_GENRE * len(GENRES)
    quality = rng.normal(scale=0.3, size=n_movies)
    rows = []
    for u in range(N_USERS):
        loved = GENRES[u % len(GENRES)]
        for m in range(1, n_movies + 1):
            if rng.random() < 0.6:
                base = 4.5 if movie_genre(m) == loved else 1.5
                value = base + quality[m - 1] + rng.normal(scale=0.3)
                rows.append(rating_row(u + 1, m, value, len(rows)))
    movies = [
        {
            "id": m,
            "title": f"{movie_genre(m)} Movie {m}",
            "year": 1980 + m % 40,
            "genres": movie_genre(m),
            "title_normalized": f"{movie_genre(m).lower().replace('-', ' ')} movie {m}",
        }
        for m in range(1, n_movies + 1)
    ]
    return insert_dataset(db, N_USERS, movies, rows)


def train_planted(db: Database) -> ModelArtifact:
    """A real model trained on ``db``; a few seeds are tried, because a small network
    can collapse to predicting the mean, and the tests need one that learned."""
    data = load_ratings(db)
    results = []
    for seed in range(3):
        result = train_model(data, replace(PLANTED_TRAIN, seed=seed))
        if result.holdout_rmse is not None and result.holdout_rmse < PLANTED_RMSE:
            return result.artifact
        results.append(result.holdout_rmse)
    raise AssertionError(f"train_model did not learn the planted data: holdout RMSE {results}")


def planted_model(newest_rating_at: datetime) -> ModelArtifact:
    """The planted structure written into the weights by hand.

    Embedding dims 0-2: genre (a movie's genre, a user's loved genre), dim 3: a
    movie's quality, dims 4-7: noise. Hidden unit g fires only when the user
    loves genre g and the movie has it; unit 3 passes the quality; two noise
    units. Predictions: about 4.5 for the loved genre, 1.5 otherwise.
    """
    rng = np.random.default_rng(42)
    n_movies = PER_GENRE * len(GENRES)
    config = ModelConfig(emb_size=8, n_hidden=6, dropout=0.1)
    users = np.zeros((N_USERS, 8), dtype=np.float32)
    for u in range(N_USERS):
        users[u, u % len(GENRES)] = 1.0
    users[:, 3] = 1.0
    users[:, 4:] = rng.uniform(0, 0.2, size=(N_USERS, 4))
    items = np.zeros((n_movies, 8), dtype=np.float32)
    for m in range(n_movies):
        items[m, m // PER_GENRE] = 1.0
    items[:, 3] = rng.uniform(0, 1, size=n_movies)
    items[:, 4:] = rng.uniform(0, 0.2, size=(n_movies, 4))
    w_user = np.zeros((6, 8), dtype=np.float32)
    w_item = np.zeros((6, 8), dtype=np.float32)
    for g in range(len(GENRES)):
        w_user[g, g] = w_item[g, g] = 2.0
    w_item[3, 3] = 1.0
    w_user[4:, 4:] = rng.normal(scale=0.5, size=(2, 4))
    w_item[4:, 4:] = rng.normal(scale=0.5, size=(2, 4))
    state = {
        "user_emb.weight": torch.from_numpy(users),
        "item_emb.weight": torch.from_numpy(items),
        "lin1.weight": torch.from_numpy(np.concatenate([w_user, w_item], axis=1)),
        "lin1.bias": torch.tensor([-2.0, -2.0, -2.0, 0.0, 0.1, 0.1]),
        "lin2.weight": torch.tensor([[1.5, 1.5, 1.5, 0.5, 0.1, -0.1]]),
        "lin2.bias": torch.tensor([1.5]),
    }
    return ModelArtifact(
        model_config=config,
        state_dict=state,
        users=Vocabulary(np.arange(1, N_USERS + 1)),
        items=Vocabulary(np.arange(1, n_movies + 1)),
        newest_rating_at=newest_rating_at.isoformat(),
        global_mean=2.5,
    )


def newest_planted_rating(n_ratings: int) -> datetime:
    return START + timedelta(hours=n_ratings - 1)


def random_artifact(
    user_ids: np.ndarray,
    movie_ids: np.ndarray,
    *,
    config: ModelConfig = ModelConfig(emb_size=12, n_hidden=6, dropout=0.1),
    seed: int = 0,
    newest_rating_at: str | None = None,
) -> ModelArtifact:
    """Random weights, embeddings spread wide enough that ReLUs go both ways."""
    torch.manual_seed(seed)
    model = NNCollabFiltering(len(user_ids), len(movie_ids), config)
    with torch.no_grad():
        model.lin2.bias.fill_(3.0)
    return ModelArtifact(
        model_config=config,
        state_dict={k: v.detach().clone() for k, v in model.state_dict().items()},
        users=Vocabulary(user_ids),
        items=Vocabulary(movie_ids),
        newest_rating_at=newest_rating_at,
        global_mean=3.0,
    )


def publish(db: Database, model_dir: Path, artifact: ModelArtifact, name: str) -> int:
    """Save, register and activate ``artifact``; returns the version id."""
    path = model_dir / f"{name}.pt"
    sha256 = save_artifact(artifact, path)
    version = register_version(
        db, artifact_path=path, model_dir=model_dir, sha256=sha256, artifact=artifact, job_id=None
    )
    activate(db, version.id)
    return version.id
