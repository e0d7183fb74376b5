"""Ranking quality on ml-latest-small: which movies does a user watch next?

Protocol (the one ``nncf-bot evaluate`` uses): each user's latest rating is held
out (ties at the last timestamp: the later line of ratings.csv), everything else
trains; each held-out movie is ranked against every movie the user has not
rated (full ranking, 9,066 movies; never 1 vs 100 sampled, which inflates
figures 5-17x). HR@10 and NDCG@10 from :func:`nncf_core.ml.evaluate.evaluate_ranking`
(ties broken as a random order would on average).

Each row is one lever, measured on its own against what it modifies:

* rating model (``train_model``, ``TrainConfig()``): ranked by predicted stars;
  with a minimum-ratings filter; with a popularity prior blended in.
* implicit NNCF: the same architecture trained to tell rated movies from
  sampled ones (BCE on the logit, 4 negatives per positive drawn in proportion
  to count ** 0.5, emb 64, hidden 256, dropout 0.2, Adam 2e-3, batch 2048,
  10 epochs: the best of the variants tried; uniform negatives or 20 epochs do
  worse); the multi-task variant adds a rating head (MSE on the positives);
  either with a popularity prior.
* the default ranker (:mod:`nncf_core.ml.ranking`): its parts switched on one
  at a time, then the default with re-ranking by predicted stars, with the
  implicit NNCF blended in, with a stricter minimum-ratings filter.

Seeds change the rating model and the implicit networks; the default ranker is
deterministic (its spread is 0). ``--level 2`` drops each user's latest rating
and holds out the one before: the data the ranker's defaults were tuned on
(levels 2-4), so that level 1 stays a test.

    .venv/bin/python benchmarks/ranking.py [--seeds 3] [--level 1] [--skip-implicit]
"""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from nncf_core.ml.artifacts import ModelArtifact
from nncf_core.ml.baselines import item_popularity
from nncf_core.ml.config import ModelConfig, TrainConfig
from nncf_core.ml.data import RatingsData
from nncf_core.ml.evaluate import evaluate_ranking, leave_last_out, model_scorer, row_scorer
from nncf_core.ml.model import NNCollabFiltering
from nncf_core.ml.ranking import (
    RARE_OFFSET,
    RankerConfig,
    RankerState,
    UserHistory,
    fit_ranker,
    ranker_scorer,
    ranking_scores,
)
from nncf_core.ml.train import torch_threads, train_model
from nncf_core.ml.vocab import Vocabulary

ROOT = Path(__file__).resolve().parents[1]
MOVIELENS_SMALL = ROOT.parent / "shared" / "data" / "ml-latest-small"
K = 10
MIN_RATINGS = 20
"""Minimum-ratings filter on the rating model (20 and 50 measured alike on level 2)."""
POPULARITY_BLEND = 0.5
"""Weight of log1p(count) added to predicted stars or to a logit."""
RERANK_TOP = 20
"""Candidates of the default ranker re-ordered by predicted stars."""
IMPLICIT_BLEND = 0.25
"""Weight of the implicit NNCF's per-user z-scored logit next to the ranker's z-score."""
STRICT_MIN_RATINGS = 10

ScoreFn = Callable[[np.ndarray], torch.Tensor]


@dataclass(frozen=True)
class Case:
    train: RatingsData
    test: RatingsData
    catalogue: np.ndarray
    items: Vocabulary
    counts: torch.Tensor
    """Training ratings per catalogue movie."""

    def ranking(self, score: ScoreFn) -> tuple[float, float]:
        metrics = evaluate_ranking(
            score, self.train, self.test.user_ids, self.test.movie_ids, K, item_ids=self.catalogue
        )
        return metrics[f"hr@{K}"], metrics[f"ndcg@{K}"]

    def rated(self, user_ids: np.ndarray) -> UserHistory:
        rows = self.items.rows(self.train.movie_ids)
        return UserHistory.from_ratings(user_ids, self.train.user_ids, rows, self.train.timestamps)


def load_case(level: int, path: Path = MOVIELENS_SMALL) -> Case:
    frame = pd.read_csv(path / "ratings.csv")
    data = RatingsData.from_arrays(
        frame.userId.to_numpy(), frame.movieId.to_numpy(), frame.rating.to_numpy(),
        frame.timestamp.to_numpy(),
    )  # fmt: skip
    catalogue = np.unique(data.movie_ids)
    for _ in range(level - 1):
        data = data.subset(leave_last_out(data)[0])
    train_idx, test_idx = leave_last_out(data)
    train = data.subset(train_idx)
    counts = torch.from_numpy(item_popularity(train.movie_ids, catalogue))
    return Case(train, data.subset(test_idx), catalogue, Vocabulary(catalogue), counts)


# --- implicit NNCF ---------------------------------------------------------------------


class MultiTask(NNCollabFiltering):
    """NNCF whose output is the logit of "rates it"; a second head on the hidden layer
    predicts the stars (trained on the positives only)."""

    def __init__(self, num_users: int, num_items: int, config: ModelConfig) -> None:
        super().__init__(num_users, num_items, config)
        self.stars = nn.Linear(config.n_hidden, 1)

    def both(self, u: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.drop1(F.relu(torch.cat([self.user_emb(u), self.item_emb(v)], dim=1)))
        hidden = F.relu(self.lin1(x))
        return self.lin2(hidden).squeeze(-1), self.stars(hidden).squeeze(-1)


def train_implicit(
    case: Case, seed: int, *, multitask: bool, epochs: int = 10, negatives: int = 4
) -> ModelArtifact:
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    users = Vocabulary(np.unique(case.train.user_ids))
    u = torch.from_numpy(users.rows(case.train.user_ids))
    i = torch.from_numpy(case.items.rows(case.train.movie_ids))
    stars = torch.from_numpy(case.train.stars)
    config = ModelConfig(emb_size=64, n_hidden=256, dropout=0.2)
    model = MultiTask(len(users), len(case.items), config)
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
    weights = (case.counts + 1.0) ** 0.5
    n = len(u)
    for _ in range(epochs):
        model.train()
        neg = torch.multinomial(weights, n * negatives, replacement=True, generator=generator)
        users_all = torch.cat([u, u.repeat(negatives)])
        items_all = torch.cat([i, neg])
        labels = torch.cat([torch.ones(n), torch.zeros(n * negatives)])
        order = torch.randperm(len(labels), generator=generator)
        for start in range(0, len(order), 2048):
            batch = order[start : start + 2048]
            logit, predicted = model.both(users_all[batch], items_all[batch])
            loss = F.binary_cross_entropy_with_logits(logit, labels[batch])
            positive = batch < n
            if multitask and positive.any():
                loss = loss + F.mse_loss(predicted[positive], stars[batch[positive]])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("stars.")}
    return ModelArtifact(config, state, users, case.items, global_mean=-math.inf)


# --- score functions ---------------------------------------------------------------------


def with_prior(score: ScoreFn, counts: torch.Tensor, weight: float) -> ScoreFn:
    prior = weight * torch.log1p(counts)
    return lambda users: score(users) + prior


def min_ratings(score: ScoreFn, counts: torch.Tensor, minimum: int) -> ScoreFn:
    dropped = counts < minimum
    return lambda users: score(users).masked_fill(dropped, -1e30)


def zscore(scores: torch.Tensor) -> torch.Tensor:
    """Per user, over the movies the scorer ranks normally (the ranker's rare movies,
    pushed down by RARE_OFFSET, would otherwise dominate the spread and stay last)."""
    normal = scores > -RARE_OFFSET / 2
    count = normal.sum(1, keepdim=True).clamp(min=2)
    values = torch.where(normal, scores, 0.0)
    mean = values.sum(1, keepdim=True) / count
    var = (torch.where(normal, scores - mean, 0.0) ** 2).sum(1, keepdim=True) / (count - 1)
    z = (scores - mean) / var.sqrt().clamp(min=1e-9)
    return torch.where(normal, z, -RARE_OFFSET)


def blended(first: ScoreFn, second: ScoreFn, weight: float) -> ScoreFn:
    return lambda users: zscore(first(users)) + weight * zscore(second(users))


def reranked(case: Case, state: RankerState, stars: ScoreFn, top: int) -> ScoreFn:
    """The ranker's top ``top`` unrated movies first, ordered by predicted stars."""
    columns = torch.from_numpy(case.items.rows(case.catalogue))

    def score(users: np.ndarray) -> torch.Tensor:
        history = case.rated(users)
        base = ranking_scores(state, history)[:, columns]
        owners = np.repeat(np.arange(len(users)), np.diff(history.offsets))
        masked = base.clone()
        masked[torch.from_numpy(owners), torch.from_numpy(history.items)] = -math.inf
        chosen = masked.topk(top, dim=1).indices
        out = base - 1e6
        out.scatter_(1, chosen, stars(users).gather(1, chosen))
        return out

    return score


# --- the table ---------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    lever: str
    hr: list[float]
    ndcg: list[float]


def spread(values: list[float]) -> str:
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.4f} ± {sd:.4f}"


def run(seeds: list[int], level: int, skip_implicit: bool, threads: int) -> None:
    started = time.perf_counter()
    case = load_case(level)
    print(
        f"ml-latest-small, leave-last-out level {level}: {case.train.n:,} training ratings, "
        f"{case.test.n:,} held-out movies ranked among {len(case.catalogue):,}; seeds {seeds}"
    )
    rows: dict[str, Row] = {}
    fixed: dict[str, tuple[float, float]] = {}

    def record(name: str, lever: str, score: ScoreFn, *, deterministic: bool = False) -> None:
        """``deterministic``: the same for every seed, so measured once."""
        if not deterministic or name not in fixed:
            fixed[name] = case.ranking(score)
        hr, ndcg = fixed[name]
        row = rows.setdefault(name, Row(name, lever, [], []))
        row.hr.append(hr)
        row.ndcg.append(ndcg)

    with torch_threads(threads):
        ranker_started = time.perf_counter()
        default = fit_ranker(case.train, case.items)
        ranker_s = time.perf_counter() - ranker_started
        no_prior = replace(default, config=replace(default.config, prior_weight=0.0))
        no_session = replace(
            no_prior, config=replace(no_prior.config, session_half_life_hours=1e12)
        )
        only_prior = replace(default, neighbour_items=default.neighbour_items[:, :0],
                             neighbour_weights=default.neighbour_weights[:, :0])  # fmt: skip
        strict = fit_ranker(case.train, case.items, RankerConfig(min_ratings=STRICT_MIN_RATINGS))
        ranker = ranker_scorer(default, case.items, case.train, case.catalogue)
        rmses: list[float] = []
        for seed in seeds:
            record("popularity (training count)", "baseline", row_scorer(case.counts.numpy()),
                   deterministic=True)  # fmt: skip
            fitted = train_model(case.train, TrainConfig(seed=seed, threads=threads))
            rmses.append(fitted.holdout_rmse)
            stars = model_scorer(fitted.artifact, case.catalogue)
            record("rating model, by predicted stars", "before", stars)
            record(f"rating model, min {MIN_RATINGS} ratings", "min-ratings filter",
                   min_ratings(stars, case.counts, MIN_RATINGS))  # fmt: skip
            record(f"rating model + {POPULARITY_BLEND} log1p(count)", "popularity blend",
                   with_prior(stars, case.counts, POPULARITY_BLEND))  # fmt: skip
            if not skip_implicit:
                for multitask in (False, True):
                    name = "implicit NNCF, multi-task" if multitask else "implicit NNCF (BCE)"
                    net = model_scorer(train_implicit(case, seed, multitask=multitask),
                                       case.catalogue)  # fmt: skip
                    record(name, "second objective", net)
                    record(f"{name} + {POPULARITY_BLEND} log1p(count)", "popularity blend",
                           with_prior(net, case.counts, POPULARITY_BLEND))  # fmt: skip
                    if not multitask:
                        record(f"default + {IMPLICIT_BLEND} implicit NNCF (z-scores)",
                               "blend", blended(ranker, net, IMPLICIT_BLEND))  # fmt: skip
            for name, lever, state in (
                ("time-local popularity prior alone", "time prior", only_prior),
                ("item-to-item (EASE), no decay", "item-to-item", no_session),
                ("EASE + session decay (1 h)", "session weighting", no_prior),
                ("EASE + session decay + time prior: DEFAULT", "time prior", default),
                (f"default, min {STRICT_MIN_RATINGS} ratings (not 3)", "min-ratings filter",
                 strict),
            ):  # fmt: skip
                scorer = ranker_scorer(state, case.items, case.train, case.catalogue)
                record(name, lever, scorer, deterministic=True)
            record(f"default, top {RERANK_TOP} re-ranked by stars", "re-rank by stars",
                   reranked(case, default, stars, RERANK_TOP))  # fmt: skip
            record(f"default + {POPULARITY_BLEND / 10:g} log1p(count)", "popularity blend",
                   with_prior(ranker, case.counts, POPULARITY_BLEND / 10),
                   deterministic=True)  # fmt: skip
            print(f"  seed {seed} done ({time.perf_counter() - started:.0f} s)", flush=True)

    popular = statistics.fmean(rows["popularity (training count)"].hr)
    popular_ndcg = statistics.fmean(rows["popularity (training count)"].ndcg)
    print()
    print(
        f"{'ranking':<48}{'lever':<19}{f'HR@{K}':>17}{f'NDCG@{K}':>17}{'HR/pop':>8}{'NDCG/pop':>9}"
    )
    for row in rows.values():
        hr, ndcg = statistics.fmean(row.hr), statistics.fmean(row.ndcg)
        print(
            f"{row.name:<48}{row.lever:<19}{spread(row.hr):>17}{spread(row.ndcg):>17}"
            f"{hr / popular:>8.2f}{ndcg / popular_ndcg:>9.2f}"
        )
    print()
    print(f"rating model hash-holdout RMSE: {spread(rmses)}")
    print(f"default ranker fit: {ranker_s:.1f} s; total {time.perf_counter() - started:.0f} s")
    print(f"(± is the standard deviation over seeds; {case.test.n} users, so one hit is "
          f"{1 / case.test.n:.4f} of HR)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--level", type=int, default=1, help="1: latest rating held out")
    parser.add_argument("--skip-implicit", action="store_true", help="no implicit NNCF rows")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    run(list(range(args.seeds)), args.level, args.skip_implicit, args.threads)


if __name__ == "__main__":
    main()
