"""Fitting one user's embedding on the fly, everything else frozen ("folding in").

A user who joined after the last training, or who rated more since, is served
from a vector fitted now against their current ratings, so a new rating
changes the next recommendation without a retrain.

The model only sees ``relu(u)``, so the fit is over ``p = relu(u) >= 0``
directly (a valid embedding, since ``relu(p) = p``; optimising ``u`` instead
would leave every negative coordinate with zero gradient). For fixed ReLU
patterns the prediction is linear in ``p``::

    f_i(p) = b2 + sum_h w2_h [a_h + T_ih > 0] (W_u p + b1 + T_i)_h

so each step is a ridge regression (Gauss-Newton on a piecewise-linear model)
with an L2 pull toward the mean user, projected onto ``p >= 0`` and accepted
only if the loss falls. A handful of steps on a 100-vector from a few starts:
about a millisecond for typical profiles, deterministic, no learning rate to tune.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np

from nncf_core.recommend.scoring import ScoringHead


@dataclass(frozen=True)
class FoldInConfig:
    prior_weight: float = 2.0
    """How many ratings' worth of pull toward the mean user (scale-free: the penalty is
    measured in squared stars, through the model's sensitivity at the mean user)."""
    restarts: int = 3
    """Fits run from the best of the candidate starts (the mean user first)."""
    max_steps: int = 20
    tol: float = 1e-7
    """Stop when a step lowers the loss by less than this fraction."""


class _Problem:
    """The regularised squared error of one user's ratings, and its local linearisation.

    Everything is solved in the n_hidden-wide space: the prediction depends on
    ``p`` only through ``W_u p``, so the ridge step ``p = prior + W_u^T y`` needs
    one (n_hidden x n_hidden) solve instead of an (emb_size x emb_size) one.
    That keeps a fit of thousands of ratings at a millisecond and away from
    multi-threaded BLAS calls, which crawl on a small busy machine.
    """

    def __init__(
        self,
        head: ScoringHead,
        prior: np.ndarray,
        rows: np.ndarray,
        stars: np.ndarray,
        prior_weight: float,
    ) -> None:
        self.table = head.item_part[rows].astype(np.float64)
        self.target = np.asarray(stars, dtype=np.float64)
        self.weight = head.user_weight.astype(np.float64)
        self.gram = self.weight @ self.weight.T  # K = W_u W_u^T, (H, H)
        self.b1 = head.user_bias.astype(np.float64)
        self.w2 = head.out_weight.astype(np.float64)
        self.b2 = float(head.out_bias)
        self.prior = prior
        self.prior_part = self.weight @ prior
        active, _ = self.linearise(prior)
        # |d f_i / d p|^2 = d_i^T K d_i, averaged over the rated items.
        sensitivity = float(np.mean(np.sum((active @ self.gram) * active, axis=1)))
        if sensitivity <= 1e-12:
            # Every unit is off at the mean user for these items: use the network's
            # sensitivity with all units on instead, so the prior still has a scale.
            sensitivity = float(self.w2 @ self.gram @ self.w2)
        self.lam = prior_weight * sensitivity + 1e-9

    def pre(self, p: np.ndarray) -> np.ndarray:
        return self.table + (self.weight @ p + self.b1)

    def loss(self, p: np.ndarray) -> float:
        residual = np.maximum(self.pre(p), 0) @ self.w2 + self.b2 - self.target
        return float(residual @ residual + self.lam * np.sum((p - self.prior) ** 2))

    def linearise(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``f_i = offsets_i + active_i . (W_u p)`` while the active units stay the same."""
        active = (self.pre(p) > 0) * self.w2  # (m, H): w2 where the unit is on
        offsets = self.b2 + active @ self.b1 + np.sum(active * self.table, axis=1)
        return active, offsets

    def step(self, p: np.ndarray) -> np.ndarray:
        """The ridge solution for the active units at ``p``."""
        active, offsets = self.linearise(p)
        inner = active.T @ active  # (H, H)
        system = inner @ self.gram + self.lam * np.eye(len(inner))
        y = np.linalg.solve(system, active.T @ (self.target - offsets) - inner @ self.prior_part)
        return self.prior + self.weight.T @ y

    def fit(self, start: np.ndarray, config: FoldInConfig) -> tuple[np.ndarray, float]:
        p, current = start, self.loss(start)
        for _ in range(config.max_steps):
            proposal = self.step(p)
            step, candidate, value = 1.0, p, current
            while step > 1e-3:
                candidate = np.maximum(p + step * (proposal - p), 0)
                value = self.loss(candidate)
                if value < current:
                    break
                step *= 0.5
            if not value < current:
                break
            improvement = (current - value) / max(current, 1e-12)
            p, current = candidate, value
            if improvement < config.tol:
                break
        return p, current


def fold_in(
    head: ScoringHead,
    prior: np.ndarray,
    rows: np.ndarray,
    stars: np.ndarray,
    config: FoldInConfig = FoldInConfig(),
    starts: np.ndarray | None = None,
) -> np.ndarray:
    """The user vector (emb_size,) float32 that best explains ``stars`` of item ``rows``.

    ``prior`` (the mean user) is the first start and the centre of the L2 pull;
    ``starts`` (trained users' vectors) are more starts. A ReLU that is off for
    the rated items has no gradient, so a fit from the mean user alone can stall
    in the mean user's pattern of active units (on the planted-genre data: a
    squared error of 21.6 where a trained user's vector reaches 2.0); the
    candidates with the lowest loss are refined and the best fit wins.
    """
    centre = np.maximum(np.asarray(prior, dtype=np.float64), 0)
    if len(rows) == 0:
        return centre.astype(np.float32)
    problem = _Problem(head, centre, rows, stars, config.prior_weight)
    candidates = [centre]
    if starts is not None:
        candidates += list(np.maximum(np.asarray(starts, dtype=np.float64), 0))
    losses = np.array([problem.loss(c) for c in candidates])
    # The mean user is always refined; stable order keeps ties deterministic.
    chosen = [0, *[i for i in np.argsort(losses, kind="stable") if i != 0]]
    best, best_loss = centre, float("inf")
    for index in chosen[: max(1, config.restarts)]:
        vector, value = problem.fit(candidates[index], config)
        if value < best_loss:
            best, best_loss = vector, value
    return best.astype(np.float32)


class FoldInCache:
    """Fitted vectors by (model version, user, ratings fingerprint); least recently used out."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._items: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> np.ndarray | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: np.ndarray) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)
