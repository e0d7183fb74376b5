"""The recommender end to end: exactness, fold-in, explanations, similar, hot swaps."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from nncf_core.app import Core
from nncf_core.db.models import Movie
from nncf_core.errors import InvalidInput, NoActiveModel, NotInModel
from nncf_core.ml.artifacts import ModelArtifact
from nncf_core.ml.registry import active_version, artifact_file
from nncf_core.recommend import engine as engine_module
from nncf_core.recommend.base import Filters
from nncf_core.recommend.engine import Recommender
from nncf_core.recommend.features import ItemFeatures
from nncf_core.recommend.scoring import ScoringHead
from nncf_core.services.users import UserKey
from tests.nncf_core.recommend.conftest import Planted
from tests.nncf_core.recommend.data import N_USERS, movie_genre, publish, random_artifact

SCI_FI_FAN = UserKey.parse("movielens:1")  # users 1, 4, 7, ... love Sci-Fi
OPEN = Filters(min_ratings=0)


def forward_ranking(
    artifact: ModelArtifact, user_id: int, excluded: set[int]
) -> tuple[list[int], np.ndarray]:
    """Every allowed movie by the plain forward pass, best first (ties: lower id)."""
    model = artifact.build_model()
    items = torch.arange(len(artifact.items))
    with torch.no_grad():
        users = torch.full_like(items, artifact.users.row(user_id))
        scores = model(users, items).numpy()
    ids = artifact.items.ids
    keep = np.array([int(m) not in excluded for m in ids])
    rows = np.flatnonzero(keep)
    order = rows[np.lexsort((rows, -scores[rows]))]
    return [int(m) for m in ids[order]], scores[order]


def test_rankings_and_stars_equal_the_forward_pass(
    any_planted: Planted, planted_artifact: ModelArtifact
) -> None:
    core = any_planted.core
    rated = set(core.ratings.user_ratings(SCI_FI_FAN))
    core.ratings.flag(SCI_FI_FAN, 10, "not_interested")  # a flag is not a rating: no refit
    result = any_planted.recommender().recommend(SCI_FI_FAN, 12, OPEN)
    assert not result.cold_start and not result.folded_in
    assert result.model_version_id == any_planted.version_id
    expected, scores = forward_ranking(planted_artifact, 1, rated | {10})
    assert [item.movie.id for item in result.items] == expected[:12]
    np.testing.assert_allclose([item.score for item in result.items], scores[:12], atol=1e-5)
    np.testing.assert_allclose(
        [item.predicted_stars for item in result.items], np.clip(scores[:12], 0.5, 5.0), atol=1e-5
    )


def test_filters_restrict_the_list(planted: Planted) -> None:
    recommender = planted.recommender()
    result = recommender.recommend(SCI_FI_FAN, 10, Filters(genres=("romance",), min_ratings=0))
    assert result.items and all(movie_genre(i.movie.id) == "Romance" for i in result.items)
    years = recommender.recommend(SCI_FI_FAN, 10, Filters(year_from=1990, year_to=1995))
    assert years.items and all(1990 <= i.movie.year <= 1995 for i in years.items)
    assert recommender.recommend(SCI_FI_FAN, 10, Filters(min_ratings=10_000)).items == []
    excluded = recommender.recommend(SCI_FI_FAN, 3, OPEN).items[0].movie.id
    again = recommender.recommend(SCI_FI_FAN, 3, Filters(min_ratings=0, exclude={excluded}))
    assert excluded not in [i.movie.id for i in again.items]
    with pytest.raises(InvalidInput, match="Genres: Comedy, Romance, Sci-Fi"):
        recommender.recommend(SCI_FI_FAN, 3, Filters(genres=("Western",)))


def test_a_new_sci_fi_fan_is_folded_in_and_gets_sci_fi(planted: Planted) -> None:
    fan = planted.sci_fi_fan("newcomer")
    result = planted.recommender().recommend(fan, 5, OPEN)
    assert result.folded_in and not result.cold_start
    assert [movie_genre(i.movie.id) for i in result.items] == ["Sci-Fi"] * 5
    assert all(i.because is not None and i.because.id in {1, 3, 5, 7, 9} for i in result.items)
    assert all(0.5 <= i.predicted_stars <= 5.0 for i in result.items)


def test_a_new_rating_changes_the_next_recommendation_without_retraining(
    planted: Planted, monkeypatch: pytest.MonkeyPatch
) -> None:
    fits = []
    real_fold_in = engine_module.fold_in
    monkeypatch.setattr(
        engine_module, "fold_in", lambda *a, **k: fits.append(1) or real_fold_in(*a, **k)
    )
    recommender = planted.recommender()
    before = recommender.recommend(SCI_FI_FAN, 5, OPEN)
    assert not before.folded_in and not fits
    top = before.items[0].movie.id
    planted.core.ratings.rate(SCI_FI_FAN, top, 0.5, "console")
    after = recommender.recommend(SCI_FI_FAN, 5, OPEN)
    assert after.folded_in and len(fits) == 1
    assert top not in [i.movie.id for i in after.items]
    recommender.recommend(SCI_FI_FAN, 5, OPEN)
    assert len(fits) == 1  # cached until their ratings change


def test_a_changed_taste_changes_the_recommendations(planted: Planted) -> None:
    switcher = UserKey.parse("switcher")
    recommender = planted.recommender()
    planted.rate(switcher, 5, (1, 3, 5, 7))
    first = recommender.recommend(switcher, 5, OPEN)
    assert [movie_genre(i.movie.id) for i in first.items] == ["Sci-Fi"] * 5
    planted.rate(switcher, 1, (1, 3, 5, 7))
    planted.rate(switcher, 5, (33, 35, 37, 39))
    second = recommender.recommend(switcher, 5, OPEN)
    assert [movie_genre(i.movie.id) for i in second.items] == ["Comedy"] * 5
    assert {i.because.id for i in second.items if i.because} <= {33, 35, 37, 39}


def test_cold_start_user_gets_the_popular_list(planted: Planted) -> None:
    result = planted.recommender().recommend(UserKey.parse("nobody"), 5)
    assert result.cold_start and result.model_version_id is None
    popular = planted.recommender().popular(5)
    assert [i.movie.id for i in result.items] == [i.movie.id for i in popular]
    assert [i.score for i in result.items] == sorted((i.score for i in result.items), reverse=True)
    assert len(result.items) == 5


def test_recommend_many_equals_one_by_one(planted: Planted) -> None:
    planted.core.ratings.rate(UserKey.parse("fresh"), 2, 5, "console")
    users = [UserKey.parse(f"movielens:{u}") for u in range(1, 12)]
    users += [UserKey.parse("fresh"), UserKey.parse("nobody")]
    recommender = planted.recommender()
    many = recommender.recommend_many(users, 6, OPEN)
    for user, batch in zip(users, many, strict=True):
        single = recommender.recommend(user, 6, OPEN)
        assert [i.movie.id for i in batch.items] == [i.movie.id for i in single.items]
        np.testing.assert_allclose(
            [i.score for i in batch.items], [i.score for i in single.items], atol=1e-5
        )
        assert batch.cold_start == single.cold_start and batch.folded_in == single.folded_in
    assert many[-1].cold_start and many[-2].folded_in


def test_similar_movies_share_the_genre(planted: Planted) -> None:
    recommender = planted.recommender()
    for movie_id in (3, 20, 40):
        found = recommender.similar(movie_id, 5)
        assert len(found) == 5 and movie_id not in [m.id for m, _ in found]
        assert [movie_genre(m.id) for m, _ in found] == [movie_genre(movie_id)] * 5
        assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)


def test_similar_needs_a_known_movie(planted: Planted) -> None:
    with planted.db.session() as session:
        session.add(Movie(id=999, title="Brand New", year=2024, genres="", title_normalized="x"))
    with pytest.raises(NotInModel, match="Brand New"):
        planted.recommender().similar(999)


def test_similar_needs_a_model(core: Core) -> None:
    with pytest.raises(NoActiveModel):
        Recommender(core.db, core.settings.model_dir, core.catalog).similar(1)


def test_a_custom_ranker_orders_but_stars_stay_the_rating_models(planted: Planted) -> None:
    rated = planted.core.ratings.user_ratings(SCI_FI_FAN)
    boosted_id = next(m for m in range(33, 49) if m not in rated)  # a comedy they have not rated

    class Boost:
        name = "boost"

        def head(self, artifact, rating: ScoringHead, features: ItemFeatures) -> ScoringHead:  # type: ignore[no-untyped-def]
            return rating.with_item_bias(np.where(features.ids == boosted_id, 100.0, 0.0))

    plain = planted.recommender().recommend(SCI_FI_FAN, 5, OPEN)
    boosted = planted.recommender(ranker=Boost()).recommend(SCI_FI_FAN, 5, OPEN)
    assert boosted_id not in [i.movie.id for i in plain.items]
    first = boosted.items[0]
    assert first.movie.id == boosted_id and first.score > 90
    assert 0.5 <= first.predicted_stars <= 3.0  # a comedy, predicted low for a Sci-Fi fan
    assert [i.movie.id for i in boosted.items[1:]] == [i.movie.id for i in plain.items[:4]]
    np.testing.assert_allclose(
        [i.predicted_stars for i in boosted.items[1:]],
        [i.predicted_stars for i in plain.items[:4]],
        atol=1e-5,
    )


def test_a_new_version_is_swapped_in_after_the_check_interval(planted: Planted) -> None:
    now = [0.0]
    recommender = planted.recommender(clock=lambda: now[0])
    assert recommender.recommend(SCI_FI_FAN, 3).model_version_id == planted.version_id
    old = recommender.model
    artifact = random_artifact(np.arange(1, N_USERS + 1), np.arange(1, 49), seed=3)
    new_id = publish(planted.db, planted.model_dir, artifact, "random")
    now[0] = 1.0
    assert recommender.recommend(SCI_FI_FAN, 3).model_version_id == planted.version_id
    now[0] = 2.5
    recommender.recommend(SCI_FI_FAN, 3)  # starts the background load, answers from the old
    recommender.wait_loaded(30)
    assert recommender.model_version_id == new_id
    assert recommender.recommend(SCI_FI_FAN, 3).model_version_id == new_id
    assert old is not None and old.version_id == planted.version_id  # snapshots never change


def _corrupt(planted: Planted, version_id: int) -> Path:
    version = active_version(planted.db)
    assert version is not None and version.id == version_id
    path = artifact_file(planted.model_dir, version)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def test_a_corrupt_or_missing_artifact_is_refused_and_the_old_one_kept(
    planted: Planted, caplog: pytest.LogCaptureFixture
) -> None:
    recommender = planted.recommender()
    assert recommender.refresh() == planted.version_id
    artifact = random_artifact(np.arange(1, N_USERS + 1), np.arange(1, 49), seed=4)
    bad = publish(planted.db, planted.model_dir, artifact, "bad")
    _corrupt(planted, bad)
    with caplog.at_level(logging.ERROR, logger="nncf_core.recommend.engine"):
        assert recommender.refresh() == planted.version_id
    assert f"refusing model version {bad}" in caplog.text and "corrupt" in caplog.text
    assert [v for v, _ in recommender.refused] == [bad]
    missing = publish(planted.db, planted.model_dir, artifact, "missing")
    artifact_file(planted.model_dir, active_version(planted.db)).unlink()  # type: ignore[arg-type]
    assert recommender.refresh() == planted.version_id
    assert recommender.recommend(SCI_FI_FAN, 3).model_version_id == planted.version_id
    assert sorted(v for v, _ in recommender.refused) == [bad, missing]


def test_without_a_usable_model_the_popular_list_is_served(planted: Planted) -> None:
    _corrupt(planted, planted.version_id)
    recommender = planted.recommender()
    result = recommender.recommend(SCI_FI_FAN, 4)
    assert result.model_version_id is None and not result.cold_start
    rated = set(planted.core.ratings.user_ratings(SCI_FI_FAN))
    assert result.items and not rated & {i.movie.id for i in result.items}


def test_requests_from_many_threads_during_swaps(planted: Planted) -> None:
    recommender = planted.recommender(check_interval_s=0.0)
    versions = {planted.version_id}
    errors: list[BaseException] = []
    seen: set[int | None] = set()

    def worker(user: int) -> None:
        try:
            for _ in range(15):
                result = recommender.recommend(UserKey.parse(f"movielens:{user}"), 5)
                seen.add(result.model_version_id)
                assert len(result.items) == 5
        except BaseException as error:  # collected for the main thread
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(u,)) for u in range(1, 5)]
    for thread in threads:
        thread.start()
    for seed in range(3):
        artifact = random_artifact(np.arange(1, N_USERS + 1), np.arange(1, 49), seed=10 + seed)
        versions.add(publish(planted.db, planted.model_dir, artifact, f"swap{seed}"))
    for thread in threads:
        thread.join(60)
    recommender.wait_loaded(30)
    assert not errors
    assert seen <= versions
    assert recommender.refresh() == max(versions)
