from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from nncf_core.db.engine import Database
from nncf_core.errors import InvalidInput, NoActiveModel
from nncf_core.ml import evaluate as ev
from nncf_core.ml.baselines import fit_bias_baseline, item_popularity
from nncf_core.ml.data import RatingsData
from nncf_core.ml.metrics import hit_rate_at_k, ndcg_at_k
from nncf_core.ml.retrain import retrain
from tests.nncf_core.ml.registry_data import TINY_TRAIN, random_artifact, seed_ratings


def ratings(rows: list[tuple[int, int, float, int]]) -> RatingsData:
    users, movies, stars, times = zip(*rows, strict=True)
    return RatingsData.from_arrays(users, movies, stars, times)


def test_leave_last_out_holds_out_each_users_latest_later_inserted_on_ties() -> None:
    data = ratings(
        [
            (1, 10, 4, 100),
            (1, 11, 3, 300),  # user 1's latest
            (1, 12, 5, 200),
            (2, 10, 2, 500),
            (2, 13, 1, 500),  # tie at 500: inserted later, held out
            (3, 10, 5, 900),  # single rating: stays in train
        ]
    )
    train, test = ev.leave_last_out(data)
    assert test.tolist() == [1, 4]
    assert train.tolist() == [0, 2, 3, 5]
    empty_train, empty_test = ev.leave_last_out(RatingsData.empty())
    assert len(empty_train) == len(empty_test) == 0


def random_case(seed: int = 0) -> tuple[RatingsData, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    rows = [(u, m, 3.0, 0) for u in range(1, 31) for m in range(1, 51) if rng.random() < 0.3]
    data = ratings(rows)
    train_idx, test_idx = ev.leave_last_out(data)
    catalogue = np.unique(data.movie_ids)
    return data.subset(train_idx), data.user_ids[test_idx], data.movie_ids[test_idx], catalogue


def test_ranking_matches_the_list_based_metrics_without_ties() -> None:
    train, test_users, test_movies, catalogue = random_case()
    table = torch.rand(31, len(catalogue), generator=torch.Generator().manual_seed(1))

    def scorer(users: np.ndarray) -> torch.Tensor:
        return table[torch.from_numpy(users)]

    got = ev.evaluate_ranking(scorer, train, test_users, test_movies, k=5, item_ids=catalogue)
    ranked, relevant = [], []
    for user, movie in zip(test_users, test_movies, strict=True):
        seen = set(train.movie_ids[train.user_ids == user].tolist())
        order = [int(catalogue[i]) for i in torch.argsort(table[user], descending=True)]
        ranked.append([m for m in order if m not in seen])
        relevant.append({int(movie)})
    assert got["hr@5"] == pytest.approx(hit_rate_at_k(ranked, relevant, 5))
    assert got["ndcg@5"] == pytest.approx(ndcg_at_k(ranked, relevant, 5))
    assert 0 < got["hr@5"] < 1


def test_rated_movies_are_masked() -> None:
    train, test_users, test_movies, catalogue = random_case()
    rated = {(int(u), int(m)) for u, m in zip(train.user_ids, train.movie_ids, strict=True)}
    targets = dict(zip(test_users.tolist(), test_movies.tolist(), strict=True))

    def scorer(users: np.ndarray) -> np.ndarray:
        # Rated movies score highest, the held-out one next: perfect once rated ones go.
        scores = np.zeros((len(users), len(catalogue)))
        for row, user in enumerate(users):
            for col, movie in enumerate(catalogue):
                scores[row, col] = 10 if (user, movie) in rated else 0
            scores[row, np.searchsorted(catalogue, targets[user])] = 5
        return scores

    got = ev.evaluate_ranking(scorer, train, test_users, test_movies, k=1, item_ids=catalogue)
    assert got == {"hr@1": 1.0, "ndcg@1": 1.0}


def test_ties_count_as_a_random_order_and_batches_do_not_matter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    train, test_users, test_movies, catalogue = random_case()
    constant = ev.row_scorer(np.zeros(len(catalogue)))
    got = ev.evaluate_ranking(constant, train, test_users, test_movies, k=10, item_ids=catalogue)
    candidates = [
        len(catalogue) - np.sum(train.user_ids == user) for user in test_users
    ]  # every unrated movie, the held-out one included
    assert got["hr@10"] == pytest.approx(np.mean([min(10 / c, 1) for c in candidates]))
    popular = ev.row_scorer(item_popularity(train.movie_ids, catalogue))
    whole = ev.evaluate_ranking(popular, train, test_users, test_movies, k=10, item_ids=catalogue)
    monkeypatch.setattr(ev, "MAX_SCORE_CELLS", len(catalogue) * 3)  # 3 users per batch
    batched = ev.evaluate_ranking(popular, train, test_users, test_movies, k=10, item_ids=catalogue)
    assert batched == pytest.approx(whole)


def test_ranking_input_errors() -> None:
    train, test_users, test_movies, catalogue = random_case()
    scorer = ev.row_scorer(np.zeros(len(catalogue)))
    without = np.setdiff1d(catalogue, test_movies[:1])
    with pytest.raises(ValueError, match="test movie"):
        ev.evaluate_ranking(scorer, train, test_users, test_movies, item_ids=without)
    with pytest.raises(ValueError, match="shape"):
        ev.evaluate_ranking(ev.row_scorer(np.zeros(3)), train, test_users, test_movies)
    nothing = ev.evaluate_ranking(scorer, train, test_users[:0], test_movies[:0])
    assert all(math.isnan(v) for v in nothing.values())


def test_model_scorer_equals_the_network_unclamped() -> None:
    artifact = random_artifact([1, 2, 3], [10, 20, 30, 40], seed=5)
    catalogue = np.array([10, 20, 30, 40, 50])  # 50 is unknown to the model
    scores = ev.model_scorer(artifact, catalogue)(np.array([3, 1, 99]))  # 99: unknown user
    network = artifact.build_model()
    with torch.no_grad():
        expected = network(torch.tensor([2] * 4 + [0] * 4), torch.tensor([0, 1, 2, 3] * 2)).reshape(
            2, 4
        )
    assert torch.allclose(scores[:2, :4], expected, atol=1e-5)
    assert torch.all(scores[:2, 4] == artifact.global_mean)
    assert torch.all(scores[2] == artifact.global_mean)


def test_predict_ids_uses_the_fallback_for_unknown_pairs() -> None:
    artifact = random_artifact([1, 2], [10, 20])
    got = ev.predict_ids(artifact, np.array([1, 9, 2]), np.array([10, 10, 99]))
    assert got.unknown_user.tolist() == [False, True, False]
    assert got.unknown_movie.tolist() == [False, False, True]
    assert got.values[1] == got.values[2] == pytest.approx(artifact.global_mean)
    custom = ev.predict_ids(artifact, np.array([1, 9]), np.array([10, 10]), np.array([0, 9.0]))
    assert custom.values[1] == artifact.max_rating  # fallbacks are clamped too
    assert custom.values[0] == got.values[0]


def test_bias_baseline_recovers_planted_biases() -> None:
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(200), 40)
    movies = rng.integers(0, 50, len(users))
    user_bias, movie_bias = rng.normal(0, 0.5, 200), rng.normal(0, 0.7, 50)
    stars = 3.5 + user_bias[users] + movie_bias[movies] + rng.normal(0, 0.1, len(users))
    baseline = fit_bias_baseline(users, movies, stars)
    assert np.corrcoef(baseline.item_bias, movie_bias)[0, 1] > 0.98
    assert np.corrcoef(baseline.user_bias, user_bias)[0, 1] > 0.98
    plain = baseline.predict(np.array([-5]), np.array([-5]))
    assert plain[0] == pytest.approx(baseline.global_mean)  # unseen: no bias
    assert item_popularity(np.array([3, 1, 3, 7]), np.array([1, 3, 5])).tolist() == [1, 2, 0]


@pytest.fixture
def trained(sqlite_url: str, tmp_path: Path) -> Iterator[tuple[Database, Path]]:
    db = Database(sqlite_url)
    seed_ratings(db)
    model_dir = tmp_path / "models"
    assert retrain(db, model_dir, trigger="cli", config=TINY_TRAIN).promoted
    yield db, model_dir
    db.dispose()


def test_evaluate_model_reports_model_and_baselines(trained: tuple[Database, Path]) -> None:
    db, model_dir = trained
    report = ev.evaluate_model(db, model_dir, k=5)
    rows = {row.name: row for row in report.rows}
    assert list(rows) == [
        "engine default: ranker + v1 stars",
        "model v1 by predicted stars",
        "model v1 config, retrained",
        "global mean",
        "user + item bias",
        "popularity",
    ]
    model = rows["model v1 by predicted stars"]
    engine = rows["engine default: ranker + v1 stars"]
    assert model.rmse < rows["global mean"].rmse  # type: ignore[operator]
    assert engine.rmse == model.rmse and engine.hr is not None
    assert rows["user + item bias"].rmse < rows["global mean"].rmse  # type: ignore[operator]
    assert rows["popularity"].rmse is None and rows["popularity"].hr is not None
    assert rows["model v1 config, retrained"].rmse is None
    assert all(0 <= row.hr <= 1 and 0 <= row.ndcg <= row.hr for row in report.rows)  # type: ignore[operator]
    assert report.n_ranking_users == 60 and report.n_catalogue == 40
    assert any("optimistic" in note for note in report.notes)
    assert "NDCG@5" in report.table() and "n/a" in report.table()
    quick = ev.evaluate_model(db, model_dir, 1, retrain_ranking=False)
    assert "model v1 config, retrained" not in {row.name for row in quick.rows}
    assert quick.as_dict()["rows"][1]["rmse"] == pytest.approx(model.rmse)


def test_evaluate_without_a_model(sqlite_url: str, tmp_path: Path) -> None:
    with pytest.raises(NoActiveModel):
        ev.evaluate_model(Database(sqlite_url), tmp_path)


def test_predict_file_scores_known_and_unknown_pairs(
    trained: tuple[Database, Path], tmp_path: Path
) -> None:
    db, model_dir = trained
    source, target = tmp_path / "pairs.csv", tmp_path / "out" / "predictions.csv"
    source.write_text("userId,movieId,rating\n1,1,4\n2,3,\n777,1,\n1,999,\n\n")
    summary = ev.predict_file(db, model_dir, source, target)
    lines = target.read_text().splitlines()
    assert lines[0] == "userId,movieId,prediction"
    assert [line.split(",")[:2] for line in lines[1:]] == [
        ["1", "1"],
        ["2", "3"],
        ["777", "1"],
        ["1", "999"],
    ]
    values = [float(line.split(",")[2]) for line in lines[1:]]
    assert all(0.5 <= v <= 5.0 for v in values)
    assert (summary.n_pairs, summary.unknown_user, summary.unknown_movie) == (4, 1, 1)
    assert summary.fallback == 2
    assert "4 pairs scored" in str(summary) and "1 with an unknown user" in str(summary)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("user,movie\n1,1\n", "userId and movieId"),
        ("", "header"),
        ("userId,movieId\n1,abc\n", "line 2: movieId 'abc'"),
        ("userId,movieId\n1,1\n2.5,1\n", "line 3: userId '2.5'"),
        ("userId,movieId\n1\n", "line 2: movieId ''"),
    ],
)
def test_bad_input_files_are_refused_without_output(
    sqlite_url: str, tmp_path: Path, content: str, message: str
) -> None:
    # The file is checked before anything else: no model is needed to refuse it.
    db, model_dir = Database(sqlite_url), tmp_path / "models"
    source, target = tmp_path / "pairs.csv", tmp_path / "predictions.csv"
    source.write_text(content)
    with pytest.raises(InvalidInput, match=message):
        ev.predict_file(db, model_dir, source, target)
    assert not target.exists()
    assert list(tmp_path.glob(".predictions*")) == []
