"""Building blocks for the synthetic rating data sets of the tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import insert

from nncf_core.db.engine import Database
from nncf_core.db.models import Movie, Rating, User

START = datetime(2020, 1, 1, tzinfo=UTC)


def rating_row(user_id: int, movie_id: int, value: float, index: int) -> dict[str, Any]:
    """An imported rating of ``value`` rounded to a half step, ``index`` hours after START."""
    moment = START + timedelta(hours=index)
    return {
        "user_id": user_id,
        "movie_id": movie_id,
        "stars": float(np.clip(np.round(value * 2) / 2, 0.5, 5.0)),
        "created_at": moment,
        "updated_at": moment,
        "source": "import",
    }


def insert_dataset(
    db: Database, n_users: int, movies: list[dict[str, Any]], ratings: list[dict[str, Any]]
) -> int:
    """Users ``movielens:1..n_users``, the movies and the ratings in one transaction."""
    with db.session() as session:
        session.execute(
            insert(User),
            [{"id": u, "external_id": f"movielens:{u}"} for u in range(1, n_users + 1)],
        )
        session.execute(insert(Movie), movies)
        session.execute(insert(Rating), ratings)
    return len(ratings)
