"""Test data for the bot: a slice of MovieLens small and a model trained on it.

The 300 most rated movies and every rating among them (about 45k), plus one
Discord user who rated like a MovieLens user, so that the trained model knows
an "established" Discord user. Built once per session (a few seconds) and
copied for each test module.
"""

from __future__ import annotations

import csv
import shutil
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert

from nncf_core.db import migrate
from nncf_core.db.engine import Database
from nncf_core.db.models import Movie, Rating, User
from nncf_core.ml.config import ModelConfig, TrainConfig
from nncf_core.ml.retrain import retrain
from nncf_core.titles import normalize, split_title

N_MOVIES = 300
ESTABLISHED_DISCORD_ID = 424_242_424_242_424_242
ESTABLISHED_FROM = 15
"""The MovieLens user whose ratings the established Discord user copies."""

TINY_TRAIN = TrainConfig(
    model=ModelConfig(emb_size=16, n_hidden=8, dropout=0.0),
    epochs=3,
    batch_size=2048,
    lr=0.01,
    patience=3,
    holdout_fraction=0.1,
    device="cpu",
    backend="torch",
)
"""A second or so on the bot's data slice: the point is a working model, not a good one."""


@dataclass(frozen=True)
class BotData:
    database: Path
    model_dir: Path
    movie_ids: tuple[int, ...]
    n_ratings: int

    def copy_to(self, folder: Path) -> tuple[str, Path]:
        """A private copy: (database URL, model folder)."""
        folder.mkdir(parents=True, exist_ok=True)
        database = folder / "bot.sqlite3"
        shutil.copy(self.database, database)
        model_dir = folder / "models"
        shutil.copytree(self.model_dir, model_dir)
        return f"sqlite:///{database}", model_dir


def build(
    movielens: Path,
    folder: Path,
    *,
    n_movies: int | None = N_MOVIES,
    train_config: TrainConfig = TINY_TRAIN,
) -> BotData:
    """The database and first model under ``folder``; ``n_movies=None`` keeps every movie."""
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "bot.sqlite3"
    url = f"sqlite:///{database}"
    migrate.upgrade(url)
    with (movielens / "ratings.csv").open(newline="") as handle:
        ratings = [
            (int(r["userId"]), int(r["movieId"]), float(r["rating"]), int(r["timestamp"]))
            for r in csv.DictReader(handle)
        ]
    counts = Counter(movie for _, movie, _, _ in ratings)
    chosen = {movie for movie, _ in counts.most_common(n_movies)}
    kept = [r for r in ratings if r[1] in chosen]
    with (movielens / "movies.csv").open(newline="") as handle:
        movies = [r for r in csv.DictReader(handle) if int(r["movieId"]) in chosen]
    users = sorted({user for user, _, _, _ in kept})
    db = Database(url)
    try:
        with db.session() as session:
            movie_rows = []
            for row in movies:
                title, year = split_title(row["title"])
                movie_rows.append(
                    {
                        "id": int(row["movieId"]),
                        "title": title,
                        "year": year,
                        "genres": row["genres"],
                        "title_normalized": normalize(title),
                    }
                )
            session.execute(insert(Movie), movie_rows)
            session.execute(
                insert(User), [{"id": u, "external_id": f"movielens:{u}"} for u in users]
            )
            established = max(users) + 1
            session.execute(
                insert(User), [{"id": established, "discord_id": ESTABLISHED_DISCORD_ID}]
            )
            rows = [_rating(u, m, s, t, "import") for u, m, s, t in kept]
            rows += [
                _rating(established, m, s, t, "discord")
                for u, m, s, t in kept
                if u == ESTABLISHED_FROM
            ]
            session.execute(insert(Rating), rows)
        result = retrain(db, folder / "models", trigger="cli", config=train_config)
        assert result.promoted, result.summary
    finally:
        db.dispose()
    return BotData(database, folder / "models", tuple(sorted(chosen)), len(rows))


def _rating(user: int, movie: int, stars: float, timestamp: int, source: str) -> dict[str, object]:
    moment = datetime.fromtimestamp(timestamp, UTC)
    return {
        "user_id": user,
        "movie_id": movie,
        "stars": stars,
        "created_at": moment,
        "updated_at": moment,
        "source": source,
    }
