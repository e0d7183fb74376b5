"""Training: minibatches over a shuffled index, dense or lazy Adam on the embeddings, a
moving average of the weights, early stopping on a stable holdout, and the artifact
that serving loads.

Decisions worth knowing:

* The holdout is :func:`~nncf_core.ml.split.holdout_mask` (a hash of the pair), so it
  is the same across retrains and an old model can be judged on it.
* Vocabularies hold the users and movies of the *training* part only. A user or
  movie seen only in the holdout would keep its random initial embedding, which
  predicts worse than nothing; leaving it out makes it "unknown" to the model, and
  serving already handles unknown users (fold-in from their ratings) and movies.
  Holdout RMSE is therefore computed over the holdout pairs whose user and movie
  the model knows (the reference's protocol); the share covered is in the metrics.
* Embedding rows are updated densely on small tables (every row, every step, with
  L2 on every row: the most accurate) and lazily on large ones (only the rows a
  batch touches, with their own L2 penalty): :meth:`TrainConfig.recipe` chooses.
  The small MLP uses AdamW. ``lin2.bias`` starts at the training mean, so the
  network learns deviations from it without a change of architecture.
* The holdout judges, and the artifact keeps, an exponential moving average of
  the weights (:class:`_Average`) rather than the last step's.
* Predictions are clamped to the rating scale at inference, also for the holdout
  RMSE.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from nncf_core.errors import InvalidInput, TrainingCancelled
from nncf_core.ml import kernels
from nncf_core.ml.artifacts import USER_RATING_COUNTS, ModelArtifact
from nncf_core.ml.config import Recipe, TrainConfig
from nncf_core.ml.data import RatingsData
from nncf_core.ml.distributed import DistContext
from nncf_core.ml.metrics import mae, rmse
from nncf_core.ml.model import NNCollabFiltering
from nncf_core.ml.split import holdout_mask
from nncf_core.ml.vocab import UNKNOWN, Vocabulary

log = logging.getLogger(__name__)

EVAL_BATCH = 65_536
CANCEL_CHECK_S = 1.0


@dataclass(frozen=True)
class EpochStats:
    epoch: int
    train_loss: float
    """Mean training MSE of the epoch's batches (with dropout)."""
    holdout_rmse: float | None
    """None when there is no holdout to judge on."""
    lr: float
    """Learning rate the epoch ran with."""
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainResult:
    artifact: ModelArtifact
    holdout_rmse: float | None
    """Holdout RMSE of the kept (best) epoch; None without a holdout."""
    seconds: float

    @property
    def curve(self) -> list[dict[str, Any]]:
        return list(self.artifact.metrics.get("curve", []))

    @property
    def best_epoch(self) -> int:
        return int(self.artifact.metrics.get("best_epoch", 0))


@dataclass(frozen=True)
class Evaluation:
    rmse: float | None
    """Over the pairs whose user and movie the model knows; None if there are none."""
    mae: float | None
    n: int
    """Ratings judged."""
    n_known: int
    """Of which the model knows user and movie."""


def resolve_device(config: TrainConfig) -> torch.device:
    if config.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if config.device == "cuda" and not torch.cuda.is_available():
        raise InvalidInput("device='cuda' was asked for, but no CUDA device is available.")
    return torch.device(config.device)


def resolve_backend(config: TrainConfig, device: torch.device, recipe: Recipe) -> str:
    if recipe.optimizer == "dense":
        return "torch"  # TrainConfig refuses an explicit fused backend with dense
    if config.backend == "auto":
        return "fused" if device.type == "cpu" and kernels.HAVE_NUMBA else "torch"
    if config.backend == "fused" and (device.type != "cpu" or not kernels.HAVE_NUMBA):
        raise InvalidInput("backend='fused' needs the CPU and numba; use backend='torch'.")
    return config.backend


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run with ``threads`` torch CPU threads, restoring the previous count afterwards."""
    previous = torch.get_num_threads()
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def effective_batch_size(recipe: Recipe, config: TrainConfig, n_train: int) -> int:
    """The recipe's batch size, made smaller for small data so that an epoch has at least
    ``config.min_batches_per_epoch`` steps (early stopping judges whole epochs)."""
    return max(1, min(recipe.batch_size, math.ceil(n_train / config.min_batches_per_epoch)))


class Mlp(nn.Module):
    """The network after the embeddings: lin1, ReLU, lin2 (names as in the model)."""

    def __init__(self, emb_size: int, n_hidden: int) -> None:
        super().__init__()
        self.lin1 = nn.Linear(2 * emb_size, n_hidden)
        self.lin2 = nn.Linear(n_hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin2(F.relu(self.lin1(x))).squeeze(-1)


@dataclass
class TrainSplit:
    """The training part as embedding rows, and the holdout pairs the vocabularies know."""

    train_u: np.ndarray
    train_i: np.ndarray
    train_y: np.ndarray
    hold_u: np.ndarray
    hold_i: np.ndarray
    hold_y: np.ndarray
    users: Vocabulary
    items: Vocabulary
    n_holdout: int


def split_ratings(data: RatingsData, fraction: float) -> TrainSplit:
    """Hash holdout, vocabularies from the training part, rows for both parts."""
    held = holdout_mask(data.user_ids, data.movie_ids, fraction)
    train = ~held
    users = Vocabulary(data.user_ids[train])
    items = Vocabulary(data.movie_ids[train])
    hold_u = users.rows(data.user_ids[held])
    hold_i = items.rows(data.movie_ids[held])
    known = (hold_u != UNKNOWN) & (hold_i != UNKNOWN)
    return TrainSplit(
        train_u=users.rows(data.user_ids[train]),
        train_i=items.rows(data.movie_ids[train]),
        train_y=data.stars[train],
        hold_u=hold_u[known],
        hold_i=hold_i[known],
        hold_y=data.stars[held][known],
        users=users,
        items=items,
        n_holdout=int(held.sum()),
    )


class _Trainer:
    """State of one training run: the combined embedding table, the MLP and their optimizers.

    With ``distributed``, this is one replica of a data-parallel run (see
    :mod:`nncf_core.ml.distributed`): same initial weights and batch order on
    every rank, each rank computing its slice of every batch.
    """

    def __init__(
        self,
        split: TrainSplit,
        config: TrainConfig,
        device: torch.device,
        backend: str,
        recipe: Recipe,
        distributed: DistContext | None = None,
    ):
        self.config = config
        self.recipe = recipe
        self.device = device
        self.split = split
        self.distributed = distributed
        rank = distributed.rank if distributed else 0
        self.n_users = len(split.users)
        emb = config.model.emb_size
        n_rows = self.n_users + len(split.items)
        self.global_mean = float(np.mean(split.train_y))
        self.batch_size = effective_batch_size(recipe, config, len(split.train_y))
        generator = torch.Generator().manual_seed(config.seed)
        table = torch.empty((n_rows, emb), dtype=torch.float32)
        table.normal_(0.0, config.init_std, generator=generator)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.mlp = Mlp(emb, config.model.n_hidden)
        with torch.no_grad():
            self.mlp.lin2.bias.fill_(self.global_mean)
        self.mlp.to(device)
        self.rows: kernels.RowAdam
        # Replicas drop different units (a shared mask would correlate them).
        dropout_seed = config.seed + rank * 1_000_003
        if backend == "fused":
            self.rows = kernels.FusedRows(
                table,
                dropout=config.model.dropout,
                weight_decay=recipe.weight_decay,
                seed=dropout_seed,
                max_batch=self.batch_size,
                beta2=recipe.beta2,
            )
        else:
            kind = kernels.DenseRows if recipe.optimizer == "dense" else kernels.TorchRows
            self.rows = kind(
                table.to(device),
                dropout=config.model.dropout,
                weight_decay=recipe.weight_decay,
                generator=torch.Generator(device=device).manual_seed(dropout_seed + 1),
                beta2=recipe.beta2,
            )
        # Biases are not decayed: lin2.bias carries the global mean.
        weights = [self.mlp.lin1.weight, self.mlp.lin2.weight]
        biases = [self.mlp.lin1.bias, self.mlp.lin2.bias]
        self.mlp_optimizer = torch.optim.AdamW(
            [
                {"params": weights, "weight_decay": config.mlp_weight_decay},
                {"params": biases, "weight_decay": 0.0},
            ],
            lr=recipe.lr,
            betas=(kernels.BETA1, recipe.beta2),
            eps=kernels.EPS,
        )
        self.network: nn.Module = self.mlp
        if distributed is not None:
            from torch.nn.parallel import DistributedDataParallel

            ids = [device.index] if device.type == "cuda" else None
            self.network = DistributedDataParallel(self.mlp, device_ids=ids)
        self.shuffle = np.random.default_rng(config.seed)
        # Rows of the combined table: items come after the users.
        self.train_u = torch.from_numpy(split.train_u)
        self.train_i = torch.from_numpy(split.train_i + self.n_users)
        self.train_y = torch.from_numpy(split.train_y)

    def epoch(
        self, lr: float, tick: Callable[[], None], after_step: Callable[[], None] | None = None
    ) -> float:
        for group in self.mlp_optimizer.param_groups:
            group["lr"] = lr
        n = len(self.train_y)
        order = torch.from_numpy(self.shuffle.permutation(n))
        users = self.train_u[order].to(self.device)
        items = self.train_i[order].to(self.device)
        targets = self.train_y[order].to(self.device)
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        self.mlp.train()
        batch = self.batch_size
        dist = self.distributed
        world = dist.world_size if dist else 1
        exchange = dist.gather if dist else None
        for start in range(0, n, batch):
            stop = min(start + batch, n)
            lo, hi = dist.local_slice(start, stop) if dist else (start, stop)
            x = self.rows.forward(users[lo:hi], items[lo:hi])
            squared = F.mse_loss(self.network(x), targets[lo:hi], reduction="sum")
            # The mean over the global batch: DDP averages the MLP's gradients over the
            # ranks, hence the factor world; a rank's slice may even be empty.
            loss = squared * (world / (stop - start))
            self.mlp_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            assert x.grad is not None
            grad = x.grad if world == 1 else x.grad / world
            self.rows.backward_step(grad, lr, exchange)
            self.mlp_optimizer.step()
            if after_step is not None:
                after_step()
            total += squared.detach().double()
            tick()
        if dist is not None:
            return dist.sum(float(total), self.device) / max(n, 1)
        return float(total) / max(n, 1)

    @torch.no_grad()
    def predict_rows(
        self,
        table: torch.Tensor,
        users: np.ndarray,
        items: np.ndarray,
        mlp: nn.Module | None = None,
    ) -> np.ndarray:
        """Clamped predictions of ``table`` with ``mlp`` (default: the live MLP)."""
        network = self.mlp if mlp is None else mlp
        network.eval()
        out = np.empty(len(users), dtype=np.float32)
        for start in range(0, len(users), EVAL_BATCH):
            u = torch.from_numpy(users[start : start + EVAL_BATCH]).to(self.device)
            i = torch.from_numpy(items[start : start + EVAL_BATCH] + self.n_users).to(self.device)
            x = F.relu(torch.cat([table[u], table[i]], dim=1))
            pred = network(x).clamp_(self.config.min_rating, self.config.max_rating)
            out[start : start + EVAL_BATCH] = pred.cpu().numpy()
        return out

    def state_dict(self, table: torch.Tensor, mlp_state: dict[str, torch.Tensor]) -> dict:
        table = table.detach().cpu()
        state = {
            "user_emb.weight": table[: self.n_users].clone(),
            "item_emb.weight": table[self.n_users :].clone(),
        }
        state.update({k: v.detach().cpu().clone() for k, v in mlp_state.items()})
        return state


class _Average:
    """Exponential moving average of every weight (the table and the MLP's).

    Minibatch Adam ends each epoch at a noisy point around a good one; the average
    sits nearer the middle (ml-latest-small: 0.006 RMSE better than the last step,
    dense or lazy). An update is a pass over the whole table: the dense optimizer
    makes one per step anyway, but a lazy step touches a small part of a large
    table, so there the average is updated every ``interval`` steps (about a table's
    worth of touched values), with the decay of that many steps.
    """

    def __init__(self, trainer: _Trainer, epochs: float) -> None:
        steps_per_epoch = math.ceil(len(trainer.train_y) / trainer.batch_size)
        decay = 1.0 - 1.0 / max(epochs * steps_per_epoch, 1.0)
        table = trainer.rows.table
        touched = 2 * trainer.batch_size * table.shape[1]
        dense = trainer.recipe.optimizer == "dense"
        self.interval = 1 if dense else max(1, table.numel() // max(touched, 1))
        self.weight = 1.0 - decay**self.interval
        self.table = table.clone()
        self.mlp = copy.deepcopy(trainer.mlp)
        self._live = [table, *trainer.mlp.parameters()]
        self._average = [self.table, *self.mlp.parameters()]
        self._steps = 0

    @torch.no_grad()
    def update(self) -> None:
        self._steps += 1
        if self._steps % self.interval == 0:
            torch._foreach_lerp_(self._average, self._live, self.weight)


def _mlp_snapshot(mlp: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in mlp.state_dict().items()}


def train_model(
    data: RatingsData,
    config: TrainConfig,
    *,
    progress: bool = False,
    on_epoch: Callable[[EpochStats], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    distributed: DistContext | None = None,
) -> TrainResult:
    """Train an NNCF model on ``data``; the best holdout epoch's weights are kept.

    ``should_stop`` is polled about once a second and at every epoch boundary
    (in a distributed run: at epoch boundaries, on rank 0); when it returns True,
    :class:`TrainingCancelled` is raised.

    With ``distributed`` (this process is rank 0 of a torchrun job), ``data`` and
    ``config`` are sent to the other ranks, which run :func:`follow_training`.
    """
    started = time.perf_counter()
    if distributed is not None:
        distributed.share(data, config)
    with torch_threads(config.threads):
        run = _run(data, config, _Hooks(progress, on_epoch, should_stop), distributed)
        table, mlp_state, best_epoch = run.best
        artifact = _artifact(data, config, run.trainer, table, mlp_state)
    trainer, split, curve, train_seconds = run.trainer, run.trainer.split, run.curve, run.seconds
    seconds = time.perf_counter() - started
    artifact.metrics.update(
        {
            "curve": curve,
            "epochs": len(curve),
            "best_epoch": best_epoch,
            "seconds": seconds,
            "train_seconds": train_seconds,
            # Training passes only (the holdout evaluations are not counted).
            "samples_per_s": len(split.train_y) * len(curve) / max(train_seconds, 1e-9),
            "compile_seconds": run.compile_seconds,
            "backend": run.backend,
            "optimizer": trainer.recipe.optimizer,
            "recipe": asdict(trainer.recipe),
            "batch_size": trainer.batch_size,
            "device": str(trainer.device),
            "world_size": distributed.world_size if distributed else 1,
            "n_train": len(split.train_y),
            "n_holdout": split.n_holdout,
            "n_holdout_known": len(split.hold_y),
        }
    )
    log.info(
        "trained on %d ratings in %.1f s (%s, %s): holdout RMSE %s at epoch %d",
        len(split.train_y),
        seconds,
        run.backend,
        trainer.device,
        artifact.metrics["holdout_rmse"],
        best_epoch,
    )
    return TrainResult(artifact, artifact.metrics["holdout_rmse"], seconds)


def follow_training(distributed: DistContext, *, progress: bool = False) -> dict:
    """Ranks other than 0 of a distributed run: train on rank 0's data with it.

    Returns this replica's weights of the kept epoch (identical to rank 0's, which
    rank 0 saves). Raises :class:`~nncf_core.ml.distributed.RunAborted` when rank 0
    gave up before training.
    """
    data, config = distributed.share(None, None)
    with torch_threads(config.threads):
        run = _run(data, config, _Hooks(progress), distributed)
    table, mlp_state, _ = run.best
    return run.trainer.state_dict(table, mlp_state)


_Best = tuple[torch.Tensor, dict[str, torch.Tensor], int]


@dataclass
class _Run:
    trainer: _Trainer
    curve: list[dict[str, Any]]
    best: _Best
    seconds: float
    """Training passes only."""
    backend: str
    compile_seconds: float


@dataclass(frozen=True)
class _Hooks:
    """What the caller watches a run with (see :func:`train_model`)."""

    progress: bool = False
    on_epoch: Callable[[EpochStats], None] | None = None
    should_stop: Callable[[], bool] | None = None


def _run(
    data: RatingsData, config: TrainConfig, hooks: _Hooks, distributed: DistContext | None
) -> _Run:
    split = split_ratings(data, config.holdout_fraction)
    if len(split.train_y) == 0:
        raise InvalidInput("There are no ratings to train on; import or add ratings first.")
    device = resolve_device(config)
    if distributed is not None:
        device = distributed.device(device)
    recipe = config.recipe((len(split.users) + len(split.items)) * config.model.emb_size)
    backend = resolve_backend(config, device, recipe)
    compile_s = kernels.warm_up_kernels() if backend == "fused" else 0.0
    trainer = _Trainer(split, config, device, backend, recipe, distributed)
    curve, best, train_seconds = _fit(trainer, config, hooks)
    return _Run(trainer, curve, best, train_seconds, backend, compile_s)


def _fit(
    trainer: _Trainer, config: TrainConfig, hooks: _Hooks
) -> tuple[list[dict[str, Any]], _Best, float]:
    progress, on_epoch, should_stop = hooks.progress, hooks.on_epoch, hooks.should_stop
    split = trainer.split
    has_holdout = len(split.hold_y) > 0
    n_batches = math.ceil(len(split.train_y) / trainer.batch_size)
    dist = trainer.distributed
    main = dist is None or dist.is_main
    bar = _progress_bar(progress and main, config.epochs * n_batches)
    # A distributed run decides on rank 0, at epoch boundaries only, and tells the others.
    poll = should_stop if dist is None else None
    last_check = [time.monotonic()]
    done_epochs = [0]

    def tick() -> None:
        if bar is not None:
            bar.update(1)
        if poll is not None and time.monotonic() - last_check[0] >= CANCEL_CHECK_S:
            last_check[0] = time.monotonic()
            if poll():
                raise TrainingCancelled(done_epochs[0])

    curve: list[dict[str, Any]] = []
    best: _Best | None = None
    best_rmse = math.inf
    lr = trainer.recipe.lr
    average: _Average | None = None
    stale = 0
    train_seconds = 0.0
    try:
        for epoch in range(1, config.epochs + 1):
            if _decide(dist, should_stop is not None and main and should_stop(), trainer.device):
                raise TrainingCancelled(epoch - 1)
            if bar is not None:
                bar.set_description(f"epoch {epoch}/{config.epochs}")
            epoch_lr = _scheduled_lr(config, lr, epoch)
            epoch_started = time.perf_counter()
            if average is None and config.ema_epochs > 0 and epoch > config.ema_start_epoch:
                average = _Average(trainer, config.ema_epochs)
            loss = trainer.epoch(epoch_lr, tick, average.update if average else None)
            table, mlp = (
                (average.table, average.mlp) if average else (trainer.rows.table, trainer.mlp)
            )
            train_seconds += time.perf_counter() - epoch_started
            holdout = None
            if has_holdout and main:
                predicted = trainer.predict_rows(table, split.hold_u, split.hold_i, mlp)
                holdout = rmse(predicted, split.hold_y)
            if dist is not None and has_holdout:
                holdout = dist.from_main(holdout, trainer.device)
            stats = EpochStats(epoch, loss, holdout, epoch_lr, time.perf_counter() - epoch_started)
            done_epochs[0] = epoch
            curve.append(stats.as_dict())
            if bar is not None:
                bar.set_postfix(
                    loss=f"{loss:.4f}", holdout_rmse=_fmt(holdout), lr=f"{epoch_lr:.2g}"
                )
            if on_epoch is not None:
                on_epoch(stats)
            if not math.isfinite(loss):
                if best is None:
                    raise InvalidInput(
                        f"Training diverged in epoch {epoch} (loss {loss}); "
                        "try a lower learning rate."
                    )
                log.warning("training diverged at epoch %d; keeping epoch %d", epoch, best[2])
                break
            if holdout is None or holdout < best_rmse - config.min_delta:
                if holdout is not None:
                    best_rmse = holdout
                best = (table.clone(), _mlp_snapshot(mlp), epoch)
                stale = 0
            else:
                stale += 1
                lr *= config.lr_decay
                if stale >= config.patience:
                    break
    finally:
        if bar is not None:
            bar.close()
    assert best is not None, "no epoch finished"
    return curve, best, train_seconds


def _decide(dist: DistContext | None, decision: bool, device: torch.device) -> bool:
    """``decision`` as rank 0 took it (the value itself without distribution)."""
    if dist is None:
        return decision
    return bool(dist.from_main(1.0 if decision else 0.0, device))


def _scheduled_lr(config: TrainConfig, lr: float, epoch: int) -> float:
    """Warm up linearly over the first ``warmup_epochs`` epochs, then the plateau schedule."""
    if epoch <= config.warmup_epochs:
        return lr * epoch / (config.warmup_epochs + 1)
    return lr


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _progress_bar(enabled: bool, total: int) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="batch", dynamic_ncols=True)


def _artifact(
    data: RatingsData,
    config: TrainConfig,
    trainer: _Trainer,
    table: torch.Tensor,
    mlp_state: dict[str, torch.Tensor],
) -> ModelArtifact:
    split = trainer.split
    metrics: dict[str, Any] = {"holdout_rmse": None, "holdout_mae": None}
    if len(split.hold_y):
        trainer.mlp.load_state_dict(mlp_state)
        predicted = trainer.predict_rows(table.to(trainer.device), split.hold_u, split.hold_i)
        metrics["holdout_rmse"] = rmse(predicted, split.hold_y)
        metrics["holdout_mae"] = mae(predicted, split.hold_y)
    # All of a user's ratings (holdout too): serving compares them with the user's
    # current count, and a smaller one (an un-rating) makes the trained vector stale.
    rows = split.users.rows(data.user_ids)
    counts = np.bincount(rows[rows != UNKNOWN], minlength=len(split.users)).astype(np.int32)
    return ModelArtifact(
        model_config=config.model,
        state_dict=trainer.state_dict(table, mlp_state),
        users=split.users,
        items=split.items,
        train_config=config.as_dict(),
        metrics=metrics,
        n_ratings=data.n,
        newest_rating_at=data.newest_rating_at,
        global_mean=trainer.global_mean,
        min_rating=config.min_rating,
        max_rating=config.max_rating,
        extras={USER_RATING_COUNTS: torch.from_numpy(counts)},
    )


@torch.no_grad()
def predict(
    model: ModelArtifact | NNCollabFiltering,
    user_rows: np.ndarray,
    item_rows: np.ndarray,
    *,
    min_rating: float | None = None,
    max_rating: float | None = None,
    fallback: float | None = None,
    batch_size: int = EVAL_BATCH,
) -> np.ndarray:
    """Clamped predicted ratings for embedding rows (not database ids).

    Rows of -1 (unknown) get ``fallback`` (for an artifact: its global mean). The
    rating bounds default to the artifact's (0.5..5.0 for a bare model).
    """
    if isinstance(model, ModelArtifact):
        low = model.min_rating if min_rating is None else min_rating
        high = model.max_rating if max_rating is None else max_rating
        default = model.global_mean if fallback is None else fallback
        network = model.build_model()
    else:
        low = 0.5 if min_rating is None else min_rating
        high = 5.0 if max_rating is None else max_rating
        default = math.nan if fallback is None else fallback
        network = model
    users = np.asarray(user_rows, dtype=np.int64)
    items = np.asarray(item_rows, dtype=np.int64)
    if users.shape != items.shape:
        raise ValueError("user_rows and item_rows differ in shape")
    known = (users >= 0) & (items >= 0)
    out = np.full(users.shape, default, dtype=np.float32)
    was_training = network.training
    network.eval()
    device = next(network.parameters()).device
    ku, ki = users[known], items[known]
    values = np.empty(len(ku), dtype=np.float32)
    for start in range(0, len(ku), batch_size):
        u = torch.from_numpy(ku[start : start + batch_size]).to(device)
        i = torch.from_numpy(ki[start : start + batch_size]).to(device)
        values[start : start + batch_size] = network(u, i).clamp_(low, high).cpu().numpy()
    out[known] = values
    network.train(was_training)
    return out


def evaluate(artifact: ModelArtifact, data: RatingsData) -> Evaluation:
    """Judge ``artifact`` on ``data`` (e.g. the holdout of newer data) by database ids."""
    users = artifact.users.rows(data.user_ids)
    items = artifact.items.rows(data.movie_ids)
    known = (users != UNKNOWN) & (items != UNKNOWN)
    n_known = int(known.sum())
    if n_known == 0:
        return Evaluation(None, None, data.n, 0)
    predicted = predict(artifact, users[known], items[known])
    actual = data.stars[known]
    return Evaluation(rmse(predicted, actual), mae(predicted, actual), data.n, n_known)


def holdout_part(data: RatingsData, fraction: float) -> RatingsData:
    """The ratings :func:`train_model` holds out for ``fraction`` (to judge other models)."""
    return data.subset(holdout_mask(data.user_ids, data.movie_ids, fraction))
