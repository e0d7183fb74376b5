"""The default ranker: learns planted structure, follows the latest session, never looks
ahead in time, and survives a round trip through an artifact file."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from nncf_core.errors import ArtifactError
from nncf_core.ml.artifacts import ModelArtifact, load_artifact, save_artifact
from nncf_core.ml.config import ModelConfig
from nncf_core.ml.data import RatingsData
from nncf_core.ml.evaluate import evaluate_ranking, leave_last_out
from nncf_core.ml.model import NNCollabFiltering
from nncf_core.ml.ranking import (
    RARE_OFFSET,
    RankerConfig,
    UserHistory,
    fit_ranker,
    ranker_from_extras,
    ranker_scorer,
    ranker_to_extras,
    ranking_scores,
    train_ranker,
)
from nncf_core.ml.vocab import Vocabulary

DAY = 86_400
N_GROUPS = 4
PER_GROUP = 25


def planted(seed: int = 0, n_users: int = 120) -> RatingsData:
    """Users in four taste groups, each rating 12 movies of their group's 25, one a day;
    movie ids are 100 + row so that ids and rows differ."""
    rng = np.random.default_rng(seed)
    users, movies, times = [], [], []
    for user in range(n_users):
        group = user % N_GROUPS
        chosen = rng.choice(PER_GROUP, size=12, replace=False) + group * PER_GROUP
        start = 1_000_000_000 + int(rng.integers(0, 300)) * DAY
        for step, movie in enumerate(chosen):
            users.append(user + 1)
            movies.append(100 + int(movie))
            times.append(start + step * DAY)
    stars = np.full(len(users), 4.0)
    return RatingsData.from_arrays(users, movies, stars, times)


def test_beats_random_order_on_planted_groups() -> None:
    data = planted()
    train_idx, test_idx = leave_last_out(data)
    train, test = data.subset(train_idx), data.subset(test_idx)
    catalogue = np.unique(data.movie_ids)
    items = Vocabulary(catalogue)
    config = RankerConfig(l2=5.0, min_ratings=1, neighbours=50)
    state = fit_ranker(train, items, config)

    def ranking(scorer: object) -> float:
        return evaluate_ranking(scorer, train, test.user_ids, test.movie_ids, 10)["hr@10"]

    hr = ranking(ranker_scorer(state, items, train, catalogue))
    # The held-out movie is one of the 13 unrated movies of the user's group among 88
    # unrated in all: random order hits 10/88 of the time.
    assert hr > 0.4
    assert ranking(lambda users: torch.zeros(len(users), len(catalogue))) < 0.2


def test_latest_session_outweighs_older_history() -> None:
    # Movies 0-4 and 5-9 are two clusters, co-rated by disjoint crowds.
    users, items, times = [], [], []
    for user in range(40):
        cluster = range(0, 5) if user < 20 else range(5, 10)
        for movie in cluster:
            users.append(user)
            items.append(movie)
            times.append(1_000 + movie)
    state = train_ranker(
        np.array(users),
        np.array(items),
        np.array(times),
        10,
        RankerConfig(l2=1.0, min_ratings=1, session_half_life_hours=1.0),
    )
    # Three old ratings in cluster A, one recent in cluster B: B comes first.
    history = UserHistory.single(np.array([0, 1, 2, 5]), np.array([0, 0, 0, 10 * DAY]))
    scores = ranking_scores(state, history)[0]
    assert scores[[6, 7, 8, 9]].min() > scores[[3, 4]].max()
    # Without the decay, the three A ratings win.
    flat = replace(state, config=replace(state.config, session_half_life_hours=1e12))
    flat_scores = ranking_scores(flat, history)[0]
    assert flat_scores[[3, 4]].min() > flat_scores[[6, 7, 8, 9]].max()


def test_prior_counts_only_earlier_buckets_with_decay() -> None:
    config = RankerConfig(
        min_ratings=1, prior_weight=1.0, prior_half_life_days=10.0, prior_bucket_hours=24
    )
    base = 1_000 * DAY
    # Movie 0: rated on day 0 and day 5; movie 1: only on day 20; movie 2: never. No
    # movie has two raters in common, so the item-to-item part adds nothing.
    items = np.array([0, 0, 1])
    times = np.array([base, base + 5 * DAY, base + 20 * DAY])
    state = train_ranker(np.array([1, 2, 3]), items, times, 3, config)
    at = base + 10 * DAY
    empty = np.zeros(0, np.int64)
    history = UserHistory(np.array([0, 0]), empty, empty, reference=np.array([at]))
    scores = ranking_scores(state, history)[0].double()
    # Buckets end on days 1 and 6 and count from then on, decayed from their end.
    assert scores[0].item() == pytest.approx(np.log1p(2**-0.9 + 2**-0.4), rel=1e-5)
    assert scores[1].item() == 0.0  # rated after the reference time: not known yet
    assert scores[2].item() == -RARE_OFFSET  # never rated: outside the model, last
    # A user without ratings is ranked at the newest rating, whose day has not ended.
    cold = ranking_scores(state, UserHistory.single(empty, empty))[0].double()
    assert cold[0].item() == pytest.approx(np.log1p(2**-1.9 + 2**-1.4), rel=1e-5)
    assert cold[1].item() == 0.0


def test_rare_movies_rank_after_modelled_ones() -> None:
    data = planted(n_users=40)
    items = Vocabulary(np.append(np.unique(data.movie_ids), [999]))  # 999: nobody rated it
    state = fit_ranker(data, items, RankerConfig(min_ratings=2))
    history = UserHistory.from_ratings(
        np.array([1]), data.user_ids, items.rows(data.movie_ids), data.timestamps
    )
    scores = ranking_scores(state, history)[0]
    outside = torch.ones(len(items), dtype=torch.bool)
    outside[state.items] = False
    assert outside[items.row(999)]
    assert scores[outside].max() < scores[~outside].min()


def test_extras_round_trip_through_an_artifact(tmp_path: Path) -> None:
    data = planted(n_users=40)
    users, items = Vocabulary(np.unique(data.user_ids)), Vocabulary(np.unique(data.movie_ids))
    state = fit_ranker(data, items, RankerConfig(min_ratings=1, neighbours=20))
    extras, meta = ranker_to_extras(state)
    assert all(key.startswith("ranker.") for key in extras)
    config = ModelConfig(emb_size=4, n_hidden=3)
    artifact = ModelArtifact(
        model_config=config,
        state_dict=NNCollabFiltering(len(users), len(items), config).state_dict(),
        users=users,
        items=items,
        extras=extras,
        extras_meta={"ranker": meta},
    )
    path = tmp_path / "model.pt"
    save_artifact(artifact, path)
    loaded = load_artifact(path)
    again = ranker_from_extras(loaded.extras, loaded.extras_meta["ranker"])
    history = UserHistory.from_ratings(
        np.unique(data.user_ids), data.user_ids, items.rows(data.movie_ids), data.timestamps
    )
    assert again.config == state.config
    assert torch.equal(ranking_scores(again, history), ranking_scores(state, history))


def test_broken_extras_raise_artifact_error() -> None:
    state = fit_ranker(planted(n_users=20), Vocabulary(np.unique(planted(n_users=20).movie_ids)))
    extras, meta = ranker_to_extras(state)
    with pytest.raises(ArtifactError, match="no ranker"):
        ranker_from_extras(extras, {})
    with pytest.raises(ArtifactError, match="format version"):
        ranker_from_extras(extras, {**meta, "format_version": 99})
    with pytest.raises(ArtifactError, match="incomplete"):
        ranker_from_extras({k: v for k, v in extras.items() if "prior" not in k}, meta)
    with pytest.raises(ArtifactError, match="out of range"):
        ranker_from_extras(extras, {**meta, "n_items": 3})
