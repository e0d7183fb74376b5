"""Synthetic catalogues and models for the recommender tests.

``seed_planted`` makes a catalogue with a planted structure: three genres, and
users who each love one genre and dislike the others, so that a trained model
must separate the genres. ``random_artifact`` makes a model with random
weights, for exactness tests where only the algebra matters.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import torch
from sqlalchemy import insert

from nncf_core.db.engine import Database
from nncf_core.db.models import Movie, Rating, User
from nncf_core.ml.artifacts import ModelArtifact, save_artifact
from nncf_core.ml.config import ModelConfig, TrainConfig
from nncf_core.ml.data import load_ratings
from nncf_core.ml.model import NNCollabFiltering
from nncf_core.ml.registry import activate, register_version
from nncf_core.ml.train import train_model
from nncf_core.ml.vocab import Vocabulary

START = datetime(2020, 1, 1, tzinfo=UTC)
GENRES = ("Sci-Fi", "Romance", "Comedy")
PER_GENRE = 16
N_USERS = 90

PLANTED_TRAIN = TrainConfig(
    model=ModelConfig(emb_size=16, n_hidden=8, dropout=0.0),
    epochs=25,
    batch_size=256,
    lr=0.05,
    weight_decay=1e-4,
    init_std=0.1,
    patience=25,
    holdout_fraction=0.1,
    device="cpu",
    backend="torch",
)
"""Learns :func:`seed_planted` in about 0.3 s (holdout RMSE about 0.78; the genre gap is 3)."""


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
                moment = START + timedelta(hours=len(rows))
                rows.append(
                    {
                        "user_id": u + 1,
                        "movie_id": m,
                        "stars": float(np.clip(np.round(value * 2) / 2, 0.5, 5.0)),
                        "created_at": moment,
                        "updated_at": moment,
                        "source": "import",
                    }
                )
    with db.session() as session:
        session.execute(
            insert(User),
            [{"id": u + 1, "external_id": f"movielens:{u + 1}"} for u in range(N_USERS)],
        )
        session.execute(
            insert(Movie),
            [
                {
                    "id": m,
                    "title": f"{movie_genre(m)} Movie {m}",
                    "year": 1980 + m % 40,
                    "genres": movie_genre(m),
                    "title_normalized": f"{movie_genre(m).lower().replace('-', ' ')} movie {m}",
                }
                for m in range(1, n_movies + 1)
            ],
        )
        session.execute(insert(Rating), rows)
    return len(rows)


def train_planted(db: Database) -> ModelArtifact:
    return train_model(load_ratings(db), PLANTED_TRAIN).artifact


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
