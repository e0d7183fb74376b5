"""The default ranking of recommendations: what a user is likely to watch next.

The rating model predicts how much a user would like a movie; sorted by those
predictions it ranks badly (obscure movies with a few five-star ratings float
to the top). ``benchmarks/ranking.py`` measured the alternatives on
ml-latest-small with each user's latest rating held out and ranked against every
movie they had not rated (full ranking). What works, and what this module does:

* **Item-to-item ridge regression (EASE, Steck 2019).** A closed-form linear
  model ``B`` that predicts a movie's column of the user x movie 0/1 matrix from
  the other columns; a user's scores are their rated movies' rows of ``B``
  summed. It needs no user embedding, so a user who joined after training is
  scored exactly like one who was trained on.
* **Session weighting.** Each rated movie counts ``2 ** -(age / half life)``,
  its age measured back from the user's own latest rating: people rate in
  sessions and their next movie resembles the last few, far more than their
  whole history (HR@10 0.078 -> 0.094 on the test split).
* **A time-local popularity prior**, as a small tie-breaking term: how often
  each movie was rated, exponentially decayed, up to the user's reference time
  (their latest rating). It only counts ratings made before that time, so it is
  what production can know, and it is what a user without ratings gets.

Together: HR@10 0.089 and NDCG@10 0.047 against popularity's 0.043 and 0.020
(2.1x and 2.4x); predicted stars alone rank at 0.003. What did not help
(numbers in the benchmark): the NNCF network trained on implicit feedback (BCE
on sampled movies; 0.043) or multi-task with a rating head (0.033) ranks at or
below popularity, and blending it into this ranker adds nothing; re-ranking the
top candidates by predicted stars (0.069) or blending a global popularity prior
(0.072) makes the ranking worse; a minimum-ratings filter does not rescue the
rating model (0.011 at 20 ratings) and moves this ranker only within noise
(10 instead of 3 ratings: 0.092).

Everything is free functions over a :class:`RankerState`, which round-trips
through a :class:`~nncf_core.ml.artifacts.ModelArtifact`'s ``extras``
(:func:`ranker_to_extras`, :func:`ranker_from_extras`). Item indices are the
rows of the rating model's item vocabulary, so the scores line up with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
import torch

from nncf_core.errors import ArtifactError
from nncf_core.ml.data import RatingsData
from nncf_core.ml.vocab import UNKNOWN, Vocabulary

EXTRAS_PREFIX = "ranker."
META_KEY = "ranker"
FORMAT_VERSION = 1

NOT_RANKED = -1e30
"""Score of movies the ranker cannot score at all (outside the rating model's
vocabulary): below anything it can score, yet finite, so that masking rated
movies with ``-inf`` stays distinguishable."""

RARE_OFFSET = 1e3
"""Subtracted from the scores of movies outside the item-to-item model (too few
ratings): they rank after every movie in it (item-to-item scores stay within a
few units), ordered among themselves by the popularity prior (float32 still
resolves 1e-4 at this magnitude)."""

MAX_GRAM_CELLS = 1 << 24
"""Users x movies of one dense chunk while accumulating the Gram matrix."""

MIN_SESSION_WEIGHT = 2.0**-40
"""Rated movies weighing less (40 half lives old) are skipped while scoring: all of
a heavy user's together move a score by under 1e-9, below float32's resolution of
the scores that matter, and skipping them makes such a user 20x cheaper."""

MAX_SCORE_CELLS = 1 << 21
"""Users x movies scored at once by :func:`ranking_scores` (bounds its int64
temporaries to 16 MiB each)."""


@dataclass(frozen=True)
class RankerConfig:
    """How the default ranking is built (defaults: tuned on ml-latest-small's
    second- to fourth-latest ratings, never on the latest, which is the test)."""

    l2: float = 200.0
    """Ridge penalty of the item-to-item regression; 200-500 rank alike, 50 and
    1000 a little worse."""
    min_ratings: int = 3
    """Movies with fewer ratings stay out of the item-to-item model (they are
    ranked last). Also bounds its size: 4,768 of ml-latest-small's 9,066 movies."""
    max_items: int = 6000
    """At most this many (the most rated) movies enter the item-to-item model.
    Training inverts a dense matrix of this side: ``max_items ** 3`` work and
    ``3 * max_items ** 2`` floats of memory (about 12 s and 0.3 GB at 4,768)."""
    neighbours: int = 500
    """Entries kept per row of the item-to-item matrix, largest magnitude first
    (the rest are near zero: ranks as well as the dense matrix, at a tenth of the
    artifact size)."""
    session_half_life_hours: float = 1.0
    """Half life of a rated movie's weight, counted back from the user's latest
    rating (1 hour: the latest session dominates; 24 hours ranks a little worse,
    no decay about 15 % worse)."""
    prior_weight: float = 0.01
    """Weight of ``log1p`` of the time-local popularity prior, added to the
    item-to-item score. On the tuning splits 0.01 adds 0.0025 HR@10 (0 to 0.02 are
    within noise of each other); it also orders users without ratings."""
    prior_half_life_days: float = 90.0
    """Half life of a rating's contribution to the popularity prior."""
    prior_bucket_hours: float = 24.0
    """Ratings are counted per movie per bucket of this many hours; the prior at a
    time counts the buckets that ended by then (never later ratings)."""

    @property
    def bucket_seconds(self) -> int:
        return max(round(self.prior_bucket_hours * 3600), 1)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RankerConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class RankerState:
    """A trained ranker. Movie indices are rows of the rating model's item vocabulary."""

    config: RankerConfig
    n_items: int
    """Columns of :func:`ranking_scores` (the item vocabulary's length)."""
    items: torch.Tensor
    """int64 (N,): the movies of the item-to-item model."""
    neighbour_items: torch.Tensor
    """int32 (N, K): for row ``r`` (movie ``items[r]``), the movies it adds to."""
    neighbour_weights: torch.Tensor
    """float32 (N, K): and how much, per unit of session weight."""
    prior_keys: torch.Tensor
    """int64 (P,), increasing: ``movie * n_buckets + bucket`` of every bucket with ratings."""
    prior_cumulative: torch.Tensor
    """float64 (P,): per movie, running sum up to this bucket of each rating's
    ``2 ** ((bucket end - newest) / half life)``."""
    origin: int
    """Unix seconds where bucket 0 starts (the oldest rating's bucket)."""
    n_buckets: int
    newest: int
    """Unix seconds of the newest rating trained on: the reference time of users
    without ratings."""

    @property
    def slot(self) -> torch.Tensor:
        """int64 (n_items,): each movie's row in the item-to-item model, or -1."""
        slots = torch.full((self.n_items,), -1, dtype=torch.int64)
        slots[self.items] = torch.arange(len(self.items))
        return slots


@dataclass(frozen=True)
class UserHistory:
    """Rated movies of a batch of users, CSR: user ``b`` owns entries
    ``offsets[b]:offsets[b + 1]``."""

    offsets: np.ndarray
    """int64 (B + 1,)."""
    items: np.ndarray
    """int64: item rows (movies unknown to the model already dropped)."""
    timestamps: np.ndarray
    """int64 unix seconds of each rating (``ratings.updated_at``)."""
    reference: np.ndarray | None = None
    """int64 (B,) unix seconds each user is ranked at; default: their latest rating,
    or the ranker's newest rating for users without any."""

    @property
    def n_users(self) -> int:
        return len(self.offsets) - 1

    @classmethod
    def single(cls, items: np.ndarray, timestamps: np.ndarray) -> UserHistory:
        """One user's history (e.g. a user who joined after training)."""
        items = np.asarray(items, dtype=np.int64)
        keep = items != UNKNOWN
        return cls(
            np.array([0, int(keep.sum())], dtype=np.int64),
            items[keep],
            np.asarray(timestamps, dtype=np.int64)[keep],
        )

    @classmethod
    def from_ratings(
        cls,
        user_ids: np.ndarray,
        rating_user_ids: np.ndarray,
        rating_items: np.ndarray,
        rating_timestamps: np.ndarray,
    ) -> UserHistory:
        """Histories of ``user_ids`` (in that order) out of parallel rating arrays;
        ``rating_items`` of -1 (unknown movies) are dropped."""
        users = np.asarray(user_ids, dtype=np.int64)
        owner = np.asarray(rating_user_ids, dtype=np.int64)
        items = np.asarray(rating_items, dtype=np.int64)
        times = np.asarray(rating_timestamps, dtype=np.int64)
        keep = items != UNKNOWN
        owner, items, times = owner[keep], items[keep], times[keep]
        order = np.argsort(owner, kind="stable")
        owner, items, times = owner[order], items[order], times[order]
        starts = np.searchsorted(owner, users, side="left")
        ends = np.searchsorted(owner, users, side="right")
        lengths = ends - starts
        offsets = np.zeros(len(users) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        take = np.repeat(starts, lengths) + (
            np.arange(offsets[-1]) - np.repeat(offsets[:-1], lengths)
        )
        return cls(offsets, items[take], times[take])


# --- training ----------------------------------------------------------------------------


def train_ranker(
    user_rows: np.ndarray,
    item_rows: np.ndarray,
    timestamps: np.ndarray,
    n_items: int,
    config: RankerConfig = RankerConfig(),
) -> RankerState:
    """Fit the ranker on ratings given as parallel arrays (user ids of any kind,
    item rows ``0 .. n_items - 1``, unix seconds). Deterministic: no seed.

    Stars are not used: rating a movie at all is the signal of interest (a user
    who rates a movie 2 stars still chose to watch it).
    """
    users = np.asarray(user_rows, dtype=np.int64)
    items = np.asarray(item_rows, dtype=np.int64)
    times = np.asarray(timestamps, dtype=np.int64)
    if not (len(users) == len(items) == len(times)):
        raise ValueError("user_rows, item_rows and timestamps differ in length")
    if len(items) and (items.min() < 0 or items.max() >= n_items):
        raise ValueError(f"item rows must lie in 0..{n_items - 1}")
    pairs = np.unique(np.stack([users, items], axis=1).reshape(-1, 2), axis=0)
    kept = _model_items(pairs[:, 1], n_items, config)
    neighbour_items, neighbour_weights = _item_to_item(pairs, kept, config)
    keys, cumulative, origin, n_buckets, newest = _prior_table(items, times, n_items, config)
    return RankerState(
        config=config,
        n_items=n_items,
        items=torch.from_numpy(kept),
        neighbour_items=neighbour_items,
        neighbour_weights=neighbour_weights,
        prior_keys=keys,
        prior_cumulative=cumulative,
        origin=origin,
        n_buckets=n_buckets,
        newest=newest,
    )


def fit_ranker(
    data: RatingsData, items: Vocabulary, config: RankerConfig = RankerConfig()
) -> RankerState:
    """:func:`train_ranker` on database ids, in the columns of ``items`` (the rating
    model's item vocabulary); ratings of movies outside it are ignored."""
    rows = items.rows(data.movie_ids)
    known = rows != UNKNOWN
    return train_ranker(
        data.user_ids[known], rows[known], data.timestamps[known], len(items), config
    )


def _model_items(rated: np.ndarray, n_items: int, config: RankerConfig) -> np.ndarray:
    """Movies with at least ``min_ratings`` raters, at most ``max_items`` of the most rated."""
    counts = np.bincount(rated, minlength=n_items)
    candidates = np.flatnonzero(counts >= max(config.min_ratings, 1))
    if len(candidates) > config.max_items:
        # Most rated first; among equals the lower row, so the choice is stable.
        order = np.lexsort((candidates, -counts[candidates]))
        candidates = np.sort(candidates[order[: config.max_items]])
    return candidates.astype(np.int64)


def _item_to_item(
    pairs: np.ndarray, kept: np.ndarray, config: RankerConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """EASE: ``B = -P / diag(P)`` with ``P = (X'X + l2 I)^-1``, zero diagonal, sparsified
    to the ``neighbours`` largest entries per row."""
    n = len(kept)
    width = min(config.neighbours, max(n - 1, 0))
    if n == 0 or width == 0:
        return torch.zeros((n, 0), dtype=torch.int32), torch.zeros((n, 0), dtype=torch.float32)
    slot = np.full(int(pairs[:, 1].max()) + 1, -1, dtype=np.int64)
    slot[kept] = np.arange(n)
    cols = slot[pairs[:, 1]]
    inside = cols >= 0
    users, cols = pairs[inside, 0], cols[inside]
    gram = _gram(users, cols, n)
    gram.diagonal().add_(config.l2)
    # float32 is enough: l2 bounds the eigenvalues from below (measured: same ranking,
    # largest difference to float64 4e-9) and it is twice as fast.
    precision = torch.linalg.inv(gram)
    del gram
    weights = precision.div_(-torch.diagonal(precision)[None, :])
    weights.fill_diagonal_(0.0)
    top = weights.abs().topk(width, dim=1).indices
    values = weights.gather(1, top)
    # int32 halves the artifact's largest table; scoring widens it again.
    return torch.from_numpy(kept)[top].to(torch.int32), values.contiguous()


def _gram(users: np.ndarray, cols: np.ndarray, n: int) -> torch.Tensor:
    """``X'X`` of the 0/1 user x movie matrix, by chunks of users: a sparse transpose
    times a dense chunk, so the work is ratings x movies and memory stays bounded."""
    gram = torch.zeros((n, n), dtype=torch.float32)
    if len(users) == 0:
        return gram
    # users arrive sorted (np.unique of the pairs): renumber them 0.. in order.
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    dense_user = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(users)]))
    chunk = max(1, MAX_GRAM_CELLS // n)
    bounds = np.searchsorted(dense_user, np.arange(0, len(starts) + chunk, chunk))
    for lo, hi in pairwise(bounds):
        if lo == hi:
            continue
        local = torch.from_numpy(dense_user[lo:hi] - dense_user[lo])
        item = torch.from_numpy(cols[lo:hi])
        rows = int(local.max()) + 1
        block = torch.zeros((rows, n), dtype=torch.float32)
        block[local, item] = 1.0
        sparse_t = torch.sparse_coo_tensor(
            torch.stack([item, local]), torch.ones(len(item)), (n, rows), check_invariants=False
        )
        gram += torch.sparse.mm(sparse_t, block)
    return gram


def _prior_table(
    items: np.ndarray, times: np.ndarray, n_items: int, config: RankerConfig
) -> tuple[torch.Tensor, torch.Tensor, int, int, int]:
    bucket_s = config.bucket_seconds
    if len(items) == 0:
        empty_keys = torch.zeros(0, dtype=torch.int64)
        return empty_keys, torch.zeros(0, dtype=torch.float64), 0, 1, 0
    newest = int(times.max())
    origin = int(times.min()) // bucket_s * bucket_s
    buckets = (times - origin) // bucket_s
    n_buckets = int(buckets.max()) + 1
    keys, counts = np.unique(items * n_buckets + buckets, return_counts=True)
    # Decay measured from the newest rating: exponents stay <= 0 and float64 holds
    # 2 ** -1000, i.e. 250 years of history at a 90-day half life.
    ends = origin + (keys % n_buckets + 1) * bucket_s
    decayed = counts * np.exp2((ends - newest) / (config.prior_half_life_days * 86400))
    # A running sum per movie (not one global cumsum minus offsets: old ratings'
    # tiny terms would drown in the cancellation).
    cumulative = (
        pd.Series(decayed).groupby(keys // n_buckets).cumsum().to_numpy(np.float64, copy=True)
    )
    return torch.from_numpy(keys), torch.from_numpy(cumulative), origin, n_buckets, newest


# --- scoring -----------------------------------------------------------------------------


@torch.no_grad()
def ranking_scores(state: RankerState, history: UserHistory) -> torch.Tensor:
    """float32 (B, n_items): higher is a better recommendation. Rated movies are not
    masked (the caller masks them, as it masks its filters)."""
    out = torch.empty((history.n_users, state.n_items), dtype=torch.float32)
    chunk = max(1, MAX_SCORE_CELLS // max(state.n_items, 1))
    reference = _reference_times(state, history)
    slot = state.slot
    for start in range(0, history.n_users, chunk):
        stop = min(start + chunk, history.n_users)
        part = out[start:stop]
        part.copy_(_prior_scores(state, reference[start:stop]))
        part.mul_(state.config.prior_weight)
        _add_item_to_item(state, slot, history, start, stop, reference[start:stop], part)
    return out


def _reference_times(state: RankerState, history: UserHistory) -> np.ndarray:
    if history.reference is not None:
        return np.asarray(history.reference, dtype=np.int64)
    lengths = np.diff(history.offsets)
    latest = np.full(history.n_users, state.newest, dtype=np.int64)
    if len(history.timestamps):
        owners = np.repeat(np.arange(history.n_users), lengths)
        latest_any = np.full(history.n_users, np.iinfo(np.int64).min, dtype=np.int64)
        np.maximum.at(latest_any, owners, history.timestamps)
        latest = np.where(lengths > 0, latest_any, latest)
    return latest


def _prior_scores(state: RankerState, reference: np.ndarray) -> torch.Tensor:
    """``log1p`` of the decayed rating counts of every movie in buckets that ended by
    each reference time."""
    users = len(reference)
    if len(state.prior_keys) == 0:
        return torch.zeros((users, state.n_items))
    bucket_s = state.config.bucket_seconds
    # Last bucket wholly before the reference time (may be -1: none yet).
    last = torch.from_numpy((reference - state.origin) // bucket_s - 1).clamp(
        -1, state.n_buckets - 1
    )
    movies = torch.arange(state.n_items, dtype=torch.int64)
    queries = movies[None, :] * state.n_buckets + last[:, None]
    at = torch.searchsorted(state.prior_keys, queries, right=True) - 1
    found = at >= 0
    at = at.clamp(min=0)
    found &= (state.prior_keys[at] // state.n_buckets) == movies[None, :]
    found &= last[:, None] >= 0
    half_life = state.config.prior_half_life_days * 86400
    scale = torch.from_numpy(np.exp2((state.newest - reference) / half_life))
    counts = torch.where(found, state.prior_cumulative[at], 0.0) * scale[:, None]
    return torch.log1p(counts).float()


def _add_item_to_item(
    state: RankerState,
    slot: torch.Tensor,
    history: UserHistory,
    start: int,
    stop: int,
    reference: np.ndarray,
    out: torch.Tensor,
) -> None:
    lo, hi = int(history.offsets[start]), int(history.offsets[stop])
    items = torch.from_numpy(history.items[lo:hi])
    rows = slot[items]
    owners = torch.from_numpy(
        np.repeat(np.arange(stop - start), np.diff(history.offsets[start : stop + 1]))
    )
    modelled = rows >= 0
    rows, owners = rows[modelled], owners[modelled]
    age = reference[owners.numpy()] - history.timestamps[lo:hi][modelled.numpy()]
    half_life = state.config.session_half_life_hours * 3600
    decay = np.exp2(-np.maximum(age, 0) / half_life)
    heavy = torch.from_numpy(decay >= MIN_SESSION_WEIGHT)
    rows, owners = rows[heavy], owners[heavy]
    weight = torch.from_numpy(decay[heavy.numpy()].astype(np.float32))
    # Movies outside the model rank after all movies inside it.
    outside = slot < 0
    out[:, outside] -= RARE_OFFSET
    if len(rows) == 0 or state.neighbour_items.shape[1] == 0:
        return
    targets = state.neighbour_items[rows].long() + (owners * state.n_items)[:, None]
    values = state.neighbour_weights[rows] * weight[:, None]
    out.view(-1).index_add_(0, targets.view(-1), values.view(-1))


def ranker_scorer(
    state: RankerState,
    items: Vocabulary,
    data: RatingsData,
    catalogue: np.ndarray,
) -> Callable[[np.ndarray], torch.Tensor]:
    """A score function for :func:`nncf_core.ml.evaluate.evaluate_ranking`:
    ``user_ids -> (B, len(catalogue))``, each user's history read from ``data``.
    Catalogue movies outside ``items`` score :data:`NOT_RANKED`."""
    columns = torch.from_numpy(items.rows(np.asarray(catalogue, dtype=np.int64)))
    known = columns != UNKNOWN
    rating_items = items.rows(data.movie_ids)

    def score(user_ids: np.ndarray) -> torch.Tensor:
        history = UserHistory.from_ratings(user_ids, data.user_ids, rating_items, data.timestamps)
        scores = ranking_scores(state, history)
        out = torch.full((len(user_ids), len(columns)), NOT_RANKED)
        out[:, known] = scores[:, columns[known]]
        return out

    return score


# --- artifacts ---------------------------------------------------------------------------

_TENSORS = ("items", "neighbour_items", "neighbour_weights", "prior_keys", "prior_cumulative")


def ranker_to_extras(state: RankerState) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors for ``ModelArtifact.extras`` (keys prefixed ``ranker.``) and the plain
    description for ``ModelArtifact.extras_meta["ranker"]``."""
    tensors = {EXTRAS_PREFIX + name: getattr(state, name) for name in _TENSORS}
    meta = {
        "format_version": FORMAT_VERSION,
        "config": state.config.as_dict(),
        "n_items": state.n_items,
        "origin": state.origin,
        "n_buckets": state.n_buckets,
        "newest": state.newest,
    }
    return tensors, meta


def ranker_from_extras(extras: dict[str, torch.Tensor], meta: dict[str, Any]) -> RankerState:
    """The state :func:`ranker_to_extras` stored; :class:`ArtifactError` when it is
    missing, from another format version, or inconsistent."""
    if not meta:
        raise ArtifactError("The model artifact has no ranker; retrain the model.")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"The artifact's ranker has format version {meta.get('format_version')}, this "
            f"code reads {FORMAT_VERSION}; retrain the model."
        )
    try:
        tensors = {name: extras[EXTRAS_PREFIX + name] for name in _TENSORS}
        state = RankerState(
            config=RankerConfig.from_dict(dict(meta["config"])),
            n_items=int(meta["n_items"]),
            origin=int(meta["origin"]),
            n_buckets=int(meta["n_buckets"]),
            newest=int(meta["newest"]),
            **tensors,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ArtifactError(f"The artifact's ranker is incomplete: {error}") from None
    _check_state(state)
    return state


def _check_state(state: RankerState) -> None:
    n, width = state.neighbour_items.shape if state.neighbour_items.dim() == 2 else (-1, -1)
    problems = []
    if state.items.dim() != 1 or n != len(state.items):
        problems.append("neighbour table and item list disagree")
    if tuple(state.neighbour_weights.shape) != (n, width):
        problems.append("neighbour weights and items differ in shape")
    if len(state.items) and (int(state.items.max()) >= state.n_items or state.items.min() < 0):
        problems.append("item rows out of range")
    if state.neighbour_items.numel() and (
        int(state.neighbour_items.max()) >= state.n_items or state.neighbour_items.min() < 0
    ):
        problems.append("neighbour rows out of range")
    if state.prior_keys.shape != state.prior_cumulative.shape:
        problems.append("prior keys and sums differ in length")
    if problems:
        raise ArtifactError(f"The artifact's ranker is inconsistent: {'; '.join(problems)}.")


def describe(state: RankerState) -> str:
    """One line for logs and reports."""
    return (
        f"item-to-item ranker over {len(state.items):,} of {state.n_items:,} movies, "
        f"{state.neighbour_items.shape[1]} neighbours each, session half life "
        f"{state.config.session_half_life_hours:g} h, prior weight "
        f"{state.config.prior_weight:g} (half life {state.config.prior_half_life_days:g} d)"
    )
