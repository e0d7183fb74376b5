"""load_ratings on SQLite and PostgreSQL, RatingsData, and the stable holdout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import text

from nncf_core.db.engine import Database
from nncf_core.db.models import Rating, User
from nncf_core.ml import data as data_module
from nncf_core.ml.data import RatingsData, load_ratings
from nncf_core.ml.split import holdout_mask
from tests.conftest import add_movies

BASE = datetime(2024, 3, 1, 12, 30, 15, 250_000, tzinfo=UTC)
# (user index, movie id, stars, seconds after BASE), in insertion (id) order.
ROWS = [(0, 1, 4.5, 0), (0, 3, 0.5, 60), (1, 1, 5.0, 3600), (2, 9, 3.0, 86_400), (1, 2, 2.5, 7)]


def _fill(db: Database) -> list[int]:
    add_movies(db)
    with db.session() as session:
        users = [User(external_id=f"console:u{k}", display_name=f"u{k}") for k in range(3)]
        session.add_all(users)
        session.flush()
        ids = [user.id for user in users]
        for index, movie, stars, offset in ROWS:
            moment = BASE + timedelta(seconds=offset)
            session.add(
                Rating(
                    user_id=ids[index],
                    movie_id=movie,
                    stars=stars,
                    source="console",
                    created_at=moment,
                    updated_at=moment,
                )
            )
            session.flush()
    return ids


def _expected(ids: list[int]) -> RatingsData:
    return RatingsData.from_arrays(
        [ids[r[0]] for r in ROWS],
        [r[1] for r in ROWS],
        [r[2] for r in ROWS],
        [int(BASE.timestamp()) + r[3] for r in ROWS],  # fractions of a second dropped
    )


def _assert_same(actual: RatingsData, expected: RatingsData) -> None:
    for name in ("user_ids", "movie_ids", "stars", "timestamps"):
        got, want = getattr(actual, name), getattr(expected, name)
        assert got.dtype == want.dtype, name
        np.testing.assert_array_equal(got, want, err_msg=name)


def test_load_ratings_returns_the_table_as_arrays(db_url: str) -> None:
    db = Database(db_url)
    try:
        ids = _fill(db)
        loaded = load_ratings(db)
        _assert_same(loaded, _expected(ids))
        assert loaded.n == len(ROWS)
        assert loaded.newest_rating_at == "2024-03-02T12:30:15+00:00"
    finally:
        db.dispose()


def test_load_ratings_of_an_empty_table(db_url: str) -> None:
    db = Database(db_url)
    try:
        loaded = load_ratings(db)
        assert loaded.n == 0
        assert loaded.user_ids.dtype == np.int64
        assert loaded.newest_rating_at is None
    finally:
        db.dispose()


@pytest.mark.postgres
def test_postgres_copy_fallback_matches(postgres_url: str) -> None:
    db = Database(postgres_url)
    try:
        ids = _fill(db)
        _assert_same(data_module.load_postgres_copy(db), _expected(ids))
        _assert_same(data_module.load_postgres_adbc(db), _expected(ids))
    finally:
        db.dispose()


def test_generic_dbapi_path_matches(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    try:
        ids = _fill(db)
        _assert_same(data_module._load_dbapi(db, data_module.SQLITE_QUERY), _expected(ids))
    finally:
        db.dispose()


def test_ratings_data_checks_lengths_and_subsets() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        RatingsData.from_arrays([1, 2], [1], [3.0, 4.0])
    data = RatingsData.from_arrays([1, 2, 3], [10, 20, 30], [1.0, 2.0, 3.0], [5, 9, 7])
    part = data.subset(np.array([True, False, True]))
    assert part.user_ids.tolist() == [1, 3]
    assert part.stars.dtype == np.float32
    assert data.newest_rating_at == "1970-01-01T00:00:09+00:00"


def test_holdout_mask_is_stable_and_about_the_fraction() -> None:
    rng = np.random.default_rng(1)
    users = rng.integers(1, 5000, 200_000)
    movies = rng.integers(1, 20_000, 200_000)
    mask = holdout_mask(users, movies, 0.1)
    assert mask.dtype == np.bool_
    assert abs(mask.mean() - 0.1) < 0.005
    # Same pairs, any order, any company: the same decision.
    order = rng.permutation(len(users))
    np.testing.assert_array_equal(holdout_mask(users[order], movies[order], 0.1), mask[order])
    np.testing.assert_array_equal(holdout_mask(users[:10], movies[:10], 0.1), mask[:10])
    # A larger fraction holds out a superset; (u, m) and (m, u) are different pairs.
    assert not (mask & ~holdout_mask(users, movies, 0.2)).any()
    assert (holdout_mask(movies, users, 0.1) != mask).any()
    assert not holdout_mask(users, movies, 0.0).any()
    with pytest.raises(ValueError):
        holdout_mask(users, movies, 1.0)


def test_holdout_mask_known_values() -> None:
    # Pinned so that a change of the hash (which would move every holdout) is noticed.
    mask = holdout_mask(np.arange(1, 41), np.full(40, 7), 0.25)
    assert np.flatnonzero(mask).tolist() == PINNED


PINNED = [0, 2, 8, 14, 15, 17, 20, 24, 27, 31, 36, 37, 39]


def test_rows_come_in_id_order_after_updates(db_url: str) -> None:
    # An UPDATE moves a PostgreSQL row to the end of the heap; the order must not change.
    db = Database(db_url)
    try:
        ids = _fill(db)
        with db.engine.begin() as connection:
            connection.execute(
                text("UPDATE ratings SET stars = 1.0 WHERE id = (SELECT min(id) FROM ratings)")
            )
        expected = _expected(ids)
        readers = [load_ratings]
        if not db.is_sqlite:
            readers.append(data_module.load_postgres_copy)
        for read in readers:
            loaded = read(db)
            np.testing.assert_array_equal(loaded.user_ids, expected.user_ids)
            assert loaded.stars.tolist() == [1.0, *expected.stars.tolist()[1:]]
    finally:
        db.dispose()


def test_updated_at_in_other_shapes_falls_back_to_sqlite(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    try:
        ids = _fill(db)
        with db.engine.begin() as connection:
            connection.execute(
                text("UPDATE ratings SET updated_at = '2024-03-01T14:30:15+02:00' WHERE id = 1")
            )
        loaded = load_ratings(db)
        assert loaded.timestamps[0] == int(BASE.timestamp())
        np.testing.assert_array_equal(loaded.timestamps[1:], _expected(ids).timestamps[1:])
    finally:
        db.dispose()
