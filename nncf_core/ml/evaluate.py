"""Judging models: rating accuracy on the hash holdout, ranking quality on a
leave-last-out split, and the same numbers for the baselines.

The ranking functions are free and scorer-agnostic (a scorer maps a batch of
user ids to a score matrix over a catalogue) so that other ranking work can
reuse them: :func:`leave_last_out`, :func:`evaluate_ranking` and the scorers.
"""

from __future__ import annotations

import csv
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sqlalchemy import select
from torch.nn import functional as F

from nncf_core.db.engine import Database
from nncf_core.db.models import ModelVersion, User
from nncf_core.errors import InvalidInput, NoActiveModel
from nncf_core.ml.artifacts import ModelArtifact
from nncf_core.ml.baselines import BiasBaseline, fit_bias_baseline, item_popularity
from nncf_core.ml.config import TrainConfig
from nncf_core.ml.data import RatingsData, load_ratings
from nncf_core.ml.metrics import mae, rmse
from nncf_core.ml.ranking import fit_ranker, ranker_scorer
from nncf_core.ml.registry import active_version, load_version, require_version
from nncf_core.ml.split import holdout_mask
from nncf_core.ml.train import predict, train_model
from nncf_core.ml.vocab import UNKNOWN, Vocabulary

log = logging.getLogger(__name__)

ScoreFn = Callable[[np.ndarray], "torch.Tensor | np.ndarray"]
"""``user_ids (b,) -> scores (b, n_items)``, columns in the order of the catalogue."""

RETRAIN_RANKING_MAX_RATINGS = 200_000
"""Up to this many ratings, ``evaluate`` also trains a model without the
leave-last-out items by default (about a minute on ml-latest-small's 100k)."""

MAX_SCORE_CELLS = 1 << 22
"""Users x items scored at once: bounds memory (16 MiB of float32 per batch) for
large catalogues while keeping batches big enough to be fast."""


# --- rating predictions ----------------------------------------------------------------


@dataclass(frozen=True)
class PairPredictions:
    values: np.ndarray
    """float32 predicted stars, clamped to the rating scale."""
    unknown_user: np.ndarray
    """bool: the model has no embedding for the pair's user."""
    unknown_movie: np.ndarray
    """bool: the model has no embedding for the pair's movie."""

    @property
    def fallback(self) -> np.ndarray:
        """bool: the pair got the fallback prediction."""
        return self.unknown_user | self.unknown_movie


def predict_ids(
    artifact: ModelArtifact,
    user_ids: np.ndarray,
    movie_ids: np.ndarray,
    fallback: float | np.ndarray | None = None,
) -> PairPredictions:
    """Predictions for pairs of database ids (``users.id``, ``movies.id``).

    Pairs the model cannot score get ``fallback``: a number, one value per pair
    (e.g. a bias baseline's predictions), or by default the artifact's global mean.
    """
    user_rows = artifact.users.rows(np.asarray(user_ids))
    item_rows = artifact.items.rows(np.asarray(movie_ids))
    values = predict(artifact, user_rows, item_rows, fallback=math.nan)
    unknown_user = user_rows == UNKNOWN
    unknown_movie = item_rows == UNKNOWN
    missing = unknown_user | unknown_movie
    if missing.any():
        fill = artifact.global_mean if fallback is None else fallback
        filled = np.broadcast_to(np.asarray(fill, dtype=np.float32), values.shape)[missing]
        values[missing] = np.clip(filled, artifact.min_rating, artifact.max_rating)
    return PairPredictions(values, unknown_user, unknown_movie)


# --- ranking -----------------------------------------------------------------------------


def leave_last_out(data: RatingsData) -> tuple[np.ndarray, np.ndarray]:
    """Each user's latest rating as test, the rest as train: two index arrays into ``data``.

    "Latest" is the largest timestamp; among ratings with the same timestamp the
    one inserted later (higher ``ratings.id``: :func:`~nncf_core.ml.data.load_ratings`
    returns ratings in id order, so the later array position) is held out.
    Users with a single rating keep it in train: holding it out would leave
    nothing to know them by.
    """
    n = data.n
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    order = np.lexsort((np.arange(n), data.timestamps, data.user_ids))
    users = data.user_ids[order]
    last = np.ones(n, dtype=bool)
    last[:-1] = users[1:] != users[:-1]
    first = np.ones(n, dtype=bool)
    first[1:] = users[1:] != users[:-1]
    test = last & ~first
    return np.sort(order[~test]), np.sort(order[test])


def evaluate_ranking(
    score_fn: ScoreFn,
    train_data: RatingsData,
    test_user_ids: np.ndarray,
    test_movie_ids: np.ndarray,
    k: int = 10,
    *,
    item_ids: np.ndarray | None = None,
) -> dict[str, float]:
    """Full-ranking HR@k and NDCG@k: each test user's held-out movie ranked against
    every catalogue movie that user did not rate in ``train_data``.

    ``item_ids`` is the catalogue (default: every movie in ``train_data`` and in the
    test), and ``score_fn``'s columns follow it. Ranks are counted (how many
    candidates score higher) rather than read off ``torch.topk``: same cost per
    user, and ties, which constant or count-based scorers produce in bulk, are
    resolved as a random order would on average instead of by position.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    test_users = np.asarray(test_user_ids, dtype=np.int64)
    test_movies = np.asarray(test_movie_ids, dtype=np.int64)
    if test_users.shape != test_movies.shape:
        raise ValueError("test_user_ids and test_movie_ids differ in length")
    names = (f"hr@{k}", f"ndcg@{k}")
    if len(test_users) == 0:
        return dict.fromkeys(names, math.nan)
    if item_ids is None:
        item_ids = np.unique(np.concatenate([train_data.movie_ids, test_movies]))
    catalogue = np.asarray(item_ids, dtype=np.int64)
    columns = Vocabulary(catalogue)
    if len(columns) != len(catalogue) or not np.array_equal(columns.ids, catalogue):
        raise ValueError("item_ids must be sorted and unique")
    target_cols = columns.rows(test_movies)
    if (target_cols == UNKNOWN).any():
        raise ValueError("every test movie must be in item_ids")
    rated = _RatedItems(train_data, columns)
    # Discount prefix sums: discount[j] = sum of 1/log2(p + 2) for p < j (ranks 0..k-1).
    discount = torch.zeros(k + 1, dtype=torch.float64)
    discount[1:] = torch.cumsum(1.0 / torch.log2(torch.arange(k, dtype=torch.float64) + 2), 0)
    hits = torch.zeros((), dtype=torch.float64)
    gains = torch.zeros((), dtype=torch.float64)
    batch = max(1, MAX_SCORE_CELLS // max(len(catalogue), 1))
    for start in range(0, len(test_users), batch):
        users = test_users[start : start + batch]
        scores = torch.as_tensor(score_fn(users), dtype=torch.float32)
        if tuple(scores.shape) != (len(users), len(catalogue)):
            raise ValueError(
                f"score_fn returned shape {tuple(scores.shape)}, expected "
                f"{(len(users), len(catalogue))}"
            )
        scores = torch.nan_to_num(scores.clone(), nan=-math.inf)
        rows, cols = rated.cells(users)
        scores[rows, cols] = -math.inf
        target = scores[
            torch.arange(len(users)), torch.from_numpy(target_cols[start : start + batch])
        ]
        higher = (scores > target[:, None]).sum(1).double()
        ties = (scores == target[:, None]).sum(1).double() - 1  # the target itself
        # Expected metrics when the target lands uniformly among its ties:
        # positions higher .. higher + ties.
        hits += ((k - higher) / (ties + 1)).clamp(0, 1).sum()
        low = higher.clamp(max=k).long()
        high = (higher + ties + 1).clamp(max=k).long()
        gains += ((discount[high] - discount[low]) / (ties + 1)).sum()
    n = len(test_users)
    return {names[0]: float(hits) / n, names[1]: float(gains) / n}


class _RatedItems:
    """Which catalogue columns each user rated in the training data (CSR by user)."""

    def __init__(self, data: RatingsData, columns: Vocabulary) -> None:
        cols = columns.rows(data.movie_ids)
        keep = cols != UNKNOWN
        users, cols = data.user_ids[keep], cols[keep]
        order = np.argsort(users, kind="stable")
        self.users, starts = np.unique(users[order], return_index=True)
        self.offsets = np.append(starts, len(order))
        self.cols = cols[order]

    def cells(self, user_ids: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(row in the batch, column) of every rated cell of these users."""
        at = np.searchsorted(self.users, user_ids)
        at = np.minimum(at, max(len(self.users) - 1, 0))
        found = (self.users[at] == user_ids) if len(self.users) else np.zeros(len(user_ids), bool)
        lengths = np.where(found, self.offsets[at + 1] - self.offsets[at], 0)
        rows = np.repeat(np.arange(len(user_ids)), lengths)
        starts = np.repeat(np.where(found, self.offsets[at], 0), lengths)
        within = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        return torch.from_numpy(rows), torch.from_numpy(self.cols[starts + within])


def model_scorer(artifact: ModelArtifact, item_ids: np.ndarray) -> ScoreFn:
    """Scores of the NNCF network (unclamped: clamping would tie the best items at 5.0).

    ``lin1`` of ``relu(concat(u, v))`` splits into a user part and an item part, so
    each batch costs users x items x hidden additions instead of a full forward
    pass per pair. Unknown users or movies score the artifact's global mean.
    """
    model = artifact.build_model()
    emb = artifact.model_config.emb_size
    with torch.no_grad():
        weight = model.lin1.weight
        user_part = F.relu(model.user_emb.weight) @ weight[:, :emb].T
        item_part = F.relu(model.item_emb.weight) @ weight[:, emb:].T + model.lin1.bias
        out_w, out_b = model.lin2.weight[0], model.lin2.bias[0]
    item_rows = torch.from_numpy(artifact.items.rows(np.asarray(item_ids)))
    known_items = item_rows != UNKNOWN
    items = item_part[item_rows.clamp(min=0)]
    hidden = max(artifact.model_config.n_hidden, 1)
    chunk = max(1, MAX_SCORE_CELLS // max(len(item_rows) * hidden, 1))

    @torch.no_grad()
    def score(user_ids: np.ndarray) -> torch.Tensor:
        user_rows = torch.from_numpy(artifact.users.rows(np.asarray(user_ids)))
        out = torch.full((len(user_rows), len(item_rows)), artifact.global_mean)
        for start in range(0, len(user_rows), chunk):
            rows = user_rows[start : start + chunk]
            known = rows != UNKNOWN
            if not known.any():
                continue
            h = F.relu(user_part[rows[known]][:, None, :] + items[None, :, :])
            values = h @ out_w + out_b
            values[:, ~known_items] = artifact.global_mean
            out[start : start + chunk][known] = values
        return out

    return score


def row_scorer(item_scores: np.ndarray) -> ScoreFn:
    """The same scores for every user (popularity, a bias baseline's item biases)."""
    base = torch.as_tensor(np.asarray(item_scores, dtype=np.float32))

    def score(user_ids: np.ndarray) -> torch.Tensor:
        return base.expand(len(user_ids), -1)

    return score


def bias_scorer(baseline: BiasBaseline, item_ids: np.ndarray) -> ScoreFn:
    """Movies by ``mu + b_i`` (a user's own bias shifts all scores alike: no effect on rank)."""
    return row_scorer(baseline.global_mean + baseline.item_offsets(item_ids))


# --- the evaluation report ---------------------------------------------------------------


@dataclass
class MetricRow:
    name: str
    rmse: float | None = None
    mae: float | None = None
    hr: float | None = None
    ndcg: float | None = None
    note: str = ""


@dataclass
class EvaluationReport:
    model_version_id: int
    k: int
    n_ratings: int
    n_holdout: int
    holdout_fraction: float
    n_ranking_users: int
    n_catalogue: int
    rows: list[MetricRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        header = f"{'':<38}{'RMSE':>8}{'MAE':>8}{f'HR@{self.k}':>8}{f'NDCG@{self.k}':>9}"
        lines = [header]
        for row in self.rows:
            cells = "".join(
                f"{_cell(value):>{width}}"
                for value, width in ((row.rmse, 8), (row.mae, 8), (row.hr, 8), (row.ndcg, 9))
            )
            lines.append(f"{row.name:<38}{cells}" + (f"  {row.note}" if row.note else ""))
        lines.append("")
        lines.extend(f"* {note}" for note in self.notes)
        return "\n".join(lines)


def _cell(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.4f}"


def _rating_row(name: str, predicted: np.ndarray, held: RatingsData, note: str = "") -> MetricRow:
    return MetricRow(name, rmse(predicted, held.stars), mae(predicted, held.stars), note=note)


def evaluate_model(
    db: Database,
    model_dir: Path,
    version_id: int | None = None,
    *,
    retrain_ranking: bool | None = None,
    k: int = 10,
    progress: bool = False,
) -> EvaluationReport:
    """Evaluate the active model (or ``version_id``) and the baselines on the current data.

    ``retrain_ranking`` (default: on up to :data:`RETRAIN_RANKING_MAX_RATINGS`) also
    trains a model with the version's config on the data minus the leave-last-out
    items, whose ranking numbers are the honest ones.
    """
    started = time.monotonic()
    version = _version(db, version_id)
    artifact = load_version(model_dir, version)
    data = load_ratings(db)
    config = TrainConfig.from_dict(version.config) if version.config else TrainConfig()
    fraction = config.holdout_fraction
    held_mask = holdout_mask(data.user_ids, data.movie_ids, fraction)
    held, hash_train = data.subset(held_mask), data.subset(~held_mask)
    train_idx, test_idx = leave_last_out(data)
    ranking_train, test = data.subset(train_idx), data.subset(test_idx)
    catalogue = np.unique(data.movie_ids)
    report = EvaluationReport(
        model_version_id=version.id,
        k=k,
        n_ratings=data.n,
        n_holdout=held.n,
        holdout_fraction=fraction,
        n_ranking_users=test.n,
        n_catalogue=len(catalogue),
    )

    def ranking(scorer: ScoreFn) -> tuple[float, float]:
        metrics = evaluate_ranking(
            scorer, ranking_train, test.user_ids, test.movie_ids, k, item_ids=catalogue
        )
        return metrics[f"hr@{k}"], metrics[f"ndcg@{k}"]

    predicted = predict_ids(artifact, held.user_ids, held.movie_ids)
    # The engine's default order: the item-to-item ranker (stars still the model's). Fitted
    # here without the held-out latest ratings, so its ranking numbers are honest.
    ranker = fit_ranker(ranking_train, artifact.items)
    engine_row = _rating_row(
        f"engine default: ranker + v{version.id} stars", predicted.values, held
    )
    engine_row.hr, engine_row.ndcg = ranking(
        ranker_scorer(ranker, artifact.items, ranking_train, catalogue)
    )
    engine_row.note = "ranking honest"
    report.rows.append(engine_row)
    model_row = _rating_row(f"model v{version.id} by predicted stars", predicted.values, held)
    model_row.hr, model_row.ndcg = ranking(model_scorer(artifact, catalogue))
    model_row.note = "ranking optimistic"
    report.rows.append(model_row)
    if retrain_ranking is None:
        retrain_ranking = data.n <= RETRAIN_RANKING_MAX_RATINGS
    if retrain_ranking and ranking_train.n:
        log.info("training v%d's config without the leave-last-out items", version.id)
        fresh = train_model(ranking_train, config, progress=progress).artifact
        honest = MetricRow(f"model v{version.id} config, retrained", note="ranking honest")
        honest.hr, honest.ndcg = ranking(model_scorer(fresh, catalogue))
        report.rows.append(honest)

    mean_row = _rating_row("global mean", np.full(held.n, _mean(hash_train.stars)), held)
    mean_row.hr, mean_row.ndcg = ranking(row_scorer(np.zeros(len(catalogue))))
    mean_row.note = "ranking = random order"
    report.rows.append(mean_row)
    hash_biases = fit_bias_baseline(hash_train.user_ids, hash_train.movie_ids, hash_train.stars)
    bias_row = _rating_row(
        "user + item bias", hash_biases.predict(held.user_ids, held.movie_ids), held
    )
    ranking_biases = fit_bias_baseline(
        ranking_train.user_ids, ranking_train.movie_ids, ranking_train.stars
    )
    bias_row.hr, bias_row.ndcg = ranking(bias_scorer(ranking_biases, catalogue))
    report.rows.append(bias_row)
    popular = MetricRow("popularity")
    popular.hr, popular.ndcg = ranking(
        row_scorer(item_popularity(ranking_train.movie_ids, catalogue))
    )
    report.rows.append(popular)

    covered = 1.0 - float(predicted.fallback.mean()) if held.n else math.nan
    report.notes = [
        f"RMSE/MAE: the {held.n:,} ratings of the {fraction:.0%} hash holdout, which "
        f"v{version.id}'s training never saw; v{version.id} knows the user and movie of "
        f"{covered:.1%} of them (the rest get its global mean). Baselines are fitted on "
        "the other ratings.",
        f"HR@{k}/NDCG@{k}: each of {test.n:,} users' latest rating held out and ranked "
        f"against all {len(catalogue):,} rated movies that user has not rated; the "
        "baselines are fitted without the held-out ratings.",
        "The engine default ranks by the item-to-item ranker (nncf_core.ml.ranking), fitted "
        f"here without the held-out ratings; its predicted stars (RMSE) are v{version.id}'s.",
        f"Ranking of model v{version.id} by predicted stars is optimistic: it was trained on "
        "all data, including most of those held-out latest ratings."
        + (
            " The 'retrained' row is the honest number: the same config trained without them."
            if retrain_ranking
            else " Run with --retrain-ranking for the honest number."
        ),
    ]
    report.seconds = time.monotonic() - started
    return report


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else math.nan


def _version(db: Database, version_id: int | None) -> ModelVersion:
    if version_id is not None:
        return require_version(db, version_id)
    version = active_version(db)
    if version is None:
        raise NoActiveModel()
    return version


# --- scoring a file of pairs -------------------------------------------------------------


@dataclass(frozen=True)
class PredictSummary:
    model_version_id: int
    n_pairs: int
    unknown_user: int
    unknown_movie: int
    fallback: int
    output: Path

    def __str__(self) -> str:
        return (
            f"{self.n_pairs:,} pairs scored with model v{self.model_version_id}, "
            f"{self.unknown_user:,} with an unknown user, {self.unknown_movie:,} with an "
            f"unknown movie, fallback (user + movie bias baseline) used for {self.fallback:,}; "
            f"written to {self.output}."
        )


def read_pairs(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """MovieLens ``userId`` and ``movieId`` columns of a CSV file (other columns ignored)."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as error:
        raise InvalidInput(f"Cannot read {path}: {error.strerror or error}.") from None
    with handle:
        reader = csv.reader(handle)
        header = [name.strip() for name in next(reader, [])]
        missing = [name for name in ("userId", "movieId") if name not in header]
        if missing:
            raise InvalidInput(
                f"{path} needs a header with the columns userId and movieId; "
                f"{' and '.join(missing)} missing (header: {','.join(header) or 'empty'})."
            )
        user_col, movie_col = header.index("userId"), header.index("movieId")
        users: list[int] = []
        movies: list[int] = []
        for line, row in enumerate(reader, start=2):
            if not row or not any(cell.strip() for cell in row):
                continue
            users.append(_int_cell(path, line, row, user_col, "userId"))
            movies.append(_int_cell(path, line, row, movie_col, "movieId"))
    return np.asarray(users, dtype=np.int64), np.asarray(movies, dtype=np.int64)


def _int_cell(path: Path, line: int, row: list[str], column: int, name: str) -> int:
    value = row[column].strip() if column < len(row) else ""
    if not (value.isascii() and value.isdigit()):
        raise InvalidInput(f"{path}, line {line}: {name} {value!r} is not an integer id.")
    return int(value)


def _movielens_users(db: Database, movielens_ids: np.ndarray) -> np.ndarray:
    """``users.id`` for each MovieLens user id (``movielens:<id>``); -1 when not imported."""
    with db.engine.connect() as connection:
        rows = connection.execute(
            select(User.id, User.external_id).where(User.external_id.like("movielens:%"))
        ).all()
    known = {int(external.split(":", 1)[1]): user_id for user_id, external in rows}
    return np.asarray([known.get(int(value), -1) for value in movielens_ids], dtype=np.int64)


def predict_file(
    db: Database, model_dir: Path, source: Path, target: Path, version_id: int | None = None
) -> PredictSummary:
    """Score ``source``'s ``userId,movieId`` pairs into ``target`` (``userId,movieId,prediction``).

    Pairs the model cannot score get a bias baseline fitted on the database's
    ratings: the movie's mean rating shrunk toward the global mean, plus the
    user's shrunk offset when the user has ratings. A bad input file writes nothing.
    """
    movielens_users, movies = read_pairs(source)
    version = _version(db, version_id)
    artifact = load_version(model_dir, version)
    users = _movielens_users(db, movielens_users)
    unknown = (artifact.users.rows(users) == UNKNOWN) | (artifact.items.rows(movies) == UNKNOWN)
    fallback: np.ndarray | None = None
    if unknown.any():
        data = load_ratings(db)
        baseline = fit_bias_baseline(data.user_ids, data.movie_ids, data.stars)
        fallback = baseline.predict(users, movies, artifact.min_rating, artifact.max_rating)
    predicted = predict_ids(artifact, users, movies, fallback)
    frame = pd.DataFrame(
        {"userId": movielens_users, "movieId": movies, "prediction": predicted.values}
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    try:
        frame.to_csv(partial, index=False, float_format="%.4f")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return PredictSummary(
        model_version_id=version.id,
        n_pairs=len(movies),
        unknown_user=int(predicted.unknown_user.sum()),
        unknown_movie=int(predicted.unknown_movie.sum()),
        fallback=int(predicted.fallback.sum()),
        output=target,
    )
