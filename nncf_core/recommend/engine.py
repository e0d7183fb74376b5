"""The recommender the bot, the console and the CLI call.

It serves the active model version as an immutable :class:`ServingModel`
snapshot. Every request takes the current snapshot once and finishes on it;
a new active version (checked in the registry at most every
``check_interval_s`` seconds, or on :meth:`Recommender.refresh`) is loaded and
swapped in with one attribute assignment. A version whose artifact is missing
or corrupt is refused and logged, and the current one is kept; without any
usable model the popularity list is served.

Per request: the user's current ratings and flags (one read), their vector
(the trained one, or one folded in now from their current ratings if the model
has not seen all of them) for the predicted stars, then the order: by default
the version's item-to-item ranker (:mod:`nncf_core.ml.ranking`, from the
user's rated movies and their times) and an exact top-k over its scores; for a
version without one (older artifacts) or a custom ``ranker``, the fused
score-and-select kernel over the catalogue. Stars are always the rating
model's, and "because you liked" comes from the similarity space.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from nncf_core.db.engine import Database
from nncf_core.db.models import ModelVersion
from nncf_core.errors import ArtifactError, NoActiveModel, NotInModel
from nncf_core.ml.ranking import UserHistory, ranking_scores
from nncf_core.ml.registry import active_version, load_version
from nncf_core.recommend.base import (
    Filters,
    ProfileRecommender,
    Recommendation,
    RecommendationList,
    check_count,
)
from nncf_core.recommend.features import load_item_features
from nncf_core.recommend.foldin import FoldInCache, FoldInConfig, fold_in
from nncf_core.recommend.popularity import PopularityRecommender
from nncf_core.recommend.profiles import UserProfile
from nncf_core.recommend.ranking import Ranker
from nncf_core.recommend.scoring import CandidateQuery, top_k_dense
from nncf_core.recommend.serving import ServingModel
from nncf_core.services.catalog import MovieCatalog, MovieRef

log = logging.getLogger(__name__)

BATCH_USERS = 64
"""Users scored together in one pass over the item table."""
LIKED_STARS = 4.0


class Recommender(ProfileRecommender):
    def __init__(
        self,
        db: Database,
        model_dir: Path,
        catalog: MovieCatalog,
        *,
        ranker: Ranker | None = None,
        check_interval_s: float = 2.0,
        background: bool = True,
        fold_in_config: FoldInConfig = FoldInConfig(),
        popularity: PopularityRecommender | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.model_dir = Path(model_dir)
        self.catalog = catalog
        self.ranker: Ranker | None = ranker
        """None: each version's own ranker (see :meth:`ServingModel.build`)."""
        self.check_interval_s = check_interval_s
        self.background = background
        self.fold_in_config = fold_in_config
        self.popularity = popularity or PopularityRecommender(db, catalog)
        self._clock = clock
        self._model: ServingModel | None = None
        self._checked_at = float("-inf")
        self._refused: dict[tuple[int, str], str] = {}
        self._load_lock = threading.Lock()
        self._loader: threading.Thread | None = None
        self._fold_ins = FoldInCache()

    # -- model versions ---------------------------------------------------------------

    @property
    def model(self) -> ServingModel | None:
        """The snapshot being served (without checking the registry)."""
        return self._model

    @property
    def model_version_id(self) -> int | None:
        model = self._model
        return None if model is None else model.version_id

    @property
    def refused(self) -> dict[tuple[int, str], str]:
        """Versions (id, sha256) that could not be served, with the reason."""
        return dict(self._refused)

    def refresh(self) -> int | None:
        """Check the registry now and load a new active version on this thread.

        Returns the version now served (None: the popularity list)."""
        self._checked_at = self._clock()
        self._check(background=False)
        return self.model_version_id

    def wait_loaded(self, timeout_s: float | None = None) -> None:
        """Wait for a background load to finish (for tests and orderly shutdown)."""
        loader = self._loader
        if loader is not None:
            loader.join(timeout_s)

    def _current(self) -> ServingModel | None:
        now = self._clock()
        if now - self._checked_at >= self.check_interval_s:
            self._checked_at = now
            # Without a model there is nothing to keep serving meanwhile: load here.
            self._check(background=self.background and self._model is not None)
        return self._model

    def _check(self, *, background: bool) -> None:
        try:
            version = active_version(self.db)
        except Exception as error:  # keep serving what we have through a database hiccup
            log.warning("could not check the active model version: %s", error)
            return
        if version is None:
            if self._model is not None:
                log.warning("no model version is active any more; serving popular movies")
                self._model = None
            return
        current = self._model
        if current is not None and (current.version_id, current.sha256) == (
            version.id,
            version.sha256,
        ):
            return
        if (version.id, version.sha256) in self._refused:
            return
        if not background:
            self._load(version)
            return
        loader = self._loader
        if loader is not None and loader.is_alive():
            return
        self._loader = threading.Thread(
            target=self._load, args=(version,), name="nncf-model-loader", daemon=True
        )
        self._loader.start()

    def _load(self, version: ModelVersion) -> None:
        key = (version.id, version.sha256)
        with self._load_lock:
            current = self._model
            if key in self._refused or (
                current is not None and (current.version_id, current.sha256) == key
            ):
                return
            started = time.perf_counter()
            try:
                artifact = load_version(self.model_dir, version)
                features = load_item_features(self.db)
                model = ServingModel.build(
                    version.id, version.sha256, artifact, features, self.ranker
                )
            except ArtifactError as error:
                self._refused[key] = str(error)
                kept = f"version {current.version_id}" if current else "popular movies"
                log.error(
                    "refusing model version %d: %s (still serving %s)", version.id, error, kept
                )
                return
            except Exception:
                # Not the artifact's fault (the database, memory): try again at the next check.
                log.exception("could not load model version %d; will retry", version.id)
                return
            self._model = model  # the swap: one assignment; requests keep their snapshot
        log.info(
            "serving model version %d: %d items, %d users, %.1f MB of tables, loaded in %.2f s",
            model.version_id,
            len(model.items),
            len(model.users),
            model.nbytes / 1e6,
            time.perf_counter() - started,
        )

    # -- requests -----------------------------------------------------------------------

    def for_profiles(
        self, profiles: list[UserProfile], n: int, filters: Filters
    ) -> list[RecommendationList]:
        """Per batch of users: their vectors, then one pass over the items for all."""
        model = self._current()
        if model is None:
            return [self.popularity.for_profile(p, n, filters) for p in profiles]
        query = model.features.query(filters)
        results: list[RecommendationList | None] = [None] * len(profiles)
        personal = []
        for index, profile in enumerate(profiles):
            if profile.has_ratings:
                personal.append(index)
            else:
                results[index] = self.popularity.for_profile(profile, n, filters)
        for start in range(0, len(personal), BATCH_USERS):
            chunk = [profiles[i] for i in personal[start : start + BATCH_USERS]]
            vectors, folded = zip(*(self._user_vector(model, p) for p in chunk), strict=True)
            stacked = np.stack(vectors)
            excluded = [model.features.rows(p.excluded(filters.exclude)) for p in chunk]
            if model.ranker_state is not None:
                tops = _ranker_top_k(model, chunk, n, query, excluded)
            else:
                tops = model.ranking.top_k(model.ranking.user_parts(stacked), n, query, excluded)
            rating_parts = (
                None
                if model.ranking is model.rating and model.ranker_state is None
                else model.rating.user_parts(stacked)
            )
            for offset, (profile, (rows, scores)) in enumerate(zip(chunk, tops, strict=True)):
                if rating_parts is None:
                    stars = model.clamp(scores)
                else:
                    stars = model.clamp(model.rating.scores(rating_parts[offset], rows))
                results[personal[start + offset]] = RecommendationList(
                    self._items(model, profile, rows, scores, stars),
                    cold_start=False,
                    model_version_id=model.version_id,
                    folded_in=folded[offset],
                )
        return [r for r in results if r is not None]

    def popular(self, n: int = 10, filters: Filters | None = None) -> list[Recommendation]:
        """Well-rated popular movies (Bayesian average), for anyone."""
        return self.popularity.popular(n, filters)

    def similar(
        self, movie_id: int, n: int = 10, filters: Filters | None = None
    ) -> list[tuple[MovieRef, float]]:
        """The movies nearest to ``movie_id`` in the model's item space, with their cosine."""
        check_count(n)
        model = self._current()
        if model is None:
            raise NoActiveModel()
        row = model.items.row(movie_id)
        if row < 0:
            ref = self.popularity.lookup(movie_id)
            raise NotInModel(ref.label if ref else f"movie {movie_id}")
        scores = model.similarity @ model.similarity[row]
        query = model.features.query(filters or Filters())
        rows, values = top_k_dense(scores, n, query, np.array([row], dtype=np.int64))
        found = []
        for movie, value in zip(model.items.ids[rows], values, strict=True):
            ref = self.popularity.lookup(int(movie))
            if ref is not None:
                found.append((ref, float(value)))
        return found

    def info(self) -> dict[str, Any]:
        """What is being served, for /status and logs."""
        model = self._model
        return {
            "model_version_id": None if model is None else model.version_id,
            "items": 0 if model is None else len(model.items),
            "users": 0 if model is None else len(model.users),
            "ranker": (
                model.ranker_name
                if model is not None
                else (self.ranker.name if self.ranker else "default")
            ),
            "table_mb": 0.0 if model is None else round(model.nbytes / 1e6, 2),
            "fold_in_cache": len(self._fold_ins),
            "refused_versions": sorted(v for v, _ in self._refused),
        }

    # -- pieces -------------------------------------------------------------------------

    def _user_vector(self, model: ServingModel, profile: UserProfile) -> tuple[np.ndarray, bool]:
        """The trained vector if the model saw all their ratings, else a fold-in (cached)."""
        row = model.trained_row(profile.user_id, profile.newest_at, len(profile.movie_ids))
        if row is not None:
            return model.user_emb[row], False
        key = (model.version_id, profile.user_id, profile.fingerprint)
        vector = self._fold_ins.get(key)
        if vector is None:
            rows = model.items.rows(profile.movie_ids)
            known = rows >= 0
            vector = fold_in(
                model.rating,
                model.mean_user,
                rows[known],
                profile.stars[known],
                self.fold_in_config,
                model.fold_in_starts,
            )
            self._fold_ins.put(key, vector)
        return vector, True

    def _items(
        self,
        model: ServingModel,
        profile: UserProfile,
        rows: np.ndarray,
        scores: np.ndarray,
        stars: np.ndarray,
    ) -> list[Recommendation]:
        because = self._because(model, profile, rows)
        items = []
        for movie_id, score, star, reason in zip(
            model.items.ids[rows], scores, stars, because, strict=True
        ):
            ref = self.popularity.lookup(int(movie_id))
            if ref is None:
                continue
            reason_ref = None if reason is None else self.popularity.lookup(reason)
            items.append(Recommendation(ref, float(star), float(score), reason_ref))
        return items

    def _because(
        self, model: ServingModel, profile: UserProfile, rows: np.ndarray
    ) -> list[int | None]:
        """For each row, the user's liked movie closest to it in the similarity space."""
        liked_rows = model.items.rows(profile.liked(LIKED_STARS))
        liked_rows = liked_rows[liked_rows >= 0]
        if len(rows) == 0 or len(liked_rows) == 0:
            return [None] * len(rows)
        cosine = model.similarity[rows] @ model.similarity[liked_rows].T
        best = np.argmax(cosine, axis=1)
        chosen = model.items.ids[liked_rows[best]]
        # A negative cosine would be "because you liked its opposite": say nothing then.
        return [int(movie) if cosine[i, best[i]] > 0 else None for i, movie in enumerate(chosen)]


def _ranker_top_k(
    model: ServingModel,
    profiles: list[UserProfile],
    n: int,
    query: CandidateQuery,
    excluded: list[np.ndarray],
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Top ``n`` (rows, scores) per profile by the version's item-to-item ranker."""
    state = model.ranker_state
    assert state is not None
    owners = np.repeat(np.arange(len(profiles)), [len(p.movie_ids) for p in profiles])
    movie_ids = np.concatenate([p.movie_ids for p in profiles])
    rated_at = np.concatenate([p.rated_at for p in profiles])
    history = UserHistory.from_ratings(
        np.arange(len(profiles)), owners, model.items.rows(movie_ids), rated_at
    )
    scores = ranking_scores(state, history).numpy()
    return [top_k_dense(scores[i], n, query, excluded[i]) for i in range(len(profiles))]
