"""Typed configuration of the model and of its training, one docstring per field."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from nncf_core.errors import InvalidInput


@dataclass(frozen=True)
class ModelConfig:
    """Shape of :class:`~nncf_core.ml.model.NNCollabFiltering` (defaults: the reference's)."""

    emb_size: int = 100
    """Width of the user and of the item embedding."""
    n_hidden: int = 10
    """Width of the hidden layer after the concatenated embeddings."""
    dropout: float = 0.1
    """Dropout on the concatenated (ReLU'd) embeddings during training."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class Recipe:
    """A :class:`TrainConfig` resolved for one table: what training actually uses."""

    optimizer: Literal["dense", "lazy"]
    batch_size: int
    lr: float
    weight_decay: float
    beta2: float


# Tuned on ml-latest-small's reference split (benchmarks/accuracy.py): dense
# RMSE 0.865 +- 0.001 over 3 seeds; lazy (with its own best settings) 0.882.
DENSE_DEFAULTS = Recipe("dense", batch_size=256, lr=5e-3, weight_decay=1e-4, beta2=0.95)
LAZY_DEFAULTS = Recipe("lazy", batch_size=8192, lr=3e-3, weight_decay=0.03, beta2=0.999)


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained. ``nncf-bot train`` exposes the useful fields as options."""

    model: ModelConfig = ModelConfig()
    """Architecture of the model to train."""
    epochs: int = 30
    """Upper bound on epochs; early stopping usually ends training sooner."""
    optimizer: Literal["auto", "dense", "lazy"] = "auto"
    """How the embedding rows learn. ``dense``: PyTorch's Adam over every row at every
    step, with an L2 penalty on every row: the most accurate (``benchmarks/accuracy.py``),
    but each step costs a pass over the whole table. ``lazy``: Adam on only the rows a
    batch touches (compiled kernels on the CPU): a step costs the batch, whatever the
    table. ``auto``: dense while the table holds at most ``dense_max_values`` numbers."""
    dense_max_values: int = 4_000_000
    """Largest (users + movies) x emb_size for which ``auto`` trains dense (ml-1m is 1M)."""
    batch_size: int | None = None
    """Ratings per minibatch (at most: see ``min_batches_per_epoch``); default 256 dense,
    8192 lazy."""
    min_batches_per_epoch: int = 64
    """Small data sets get smaller batches, so that an epoch has at least this many steps."""
    lr: float | None = None
    """Peak learning rate of Adam; default 5e-3 dense, 3e-3 lazy."""
    weight_decay: float | None = None
    """L2 on the embeddings. Dense (default 1e-4): Adam's coupled ``weight_decay`` on every
    row at every step, so rows a batch does not touch shrink too. Lazy (default 0.03): on
    the rows a batch touches, per rating: the gradient of ``weight_decay / 2 * batch mean
    of (|user row|^2 + |item row|^2)``."""
    beta2: float | None = None
    """Adam's second-moment decay (embeddings and MLP); default 0.95 dense, 0.999 lazy. The
    short memory lets an untouched row's L2 gradient set its step size within tens of
    steps, which shrinks rarely seen users and movies firmly: worth 0.008 RMSE dense."""
    ema_epochs: float = 3.0
    """Horizon, in epochs, of an exponential moving average of the weights (a decay per
    step of ``1 - 1 / (ema_epochs * steps per epoch)``); the holdout, early stopping and
    the saved model use the average. 0 turns it off."""
    ema_start_epoch: int = 1
    """Epochs trained before the average starts (the first epoch moves too far to average)."""
    mlp_weight_decay: float = 1e-4
    """Decoupled (AdamW) weight decay of the MLP's weights."""
    init_std: float = 0.1
    """Standard deviation of the normal initialisation of the embeddings."""
    warmup_epochs: int = 0
    """Epochs of linear learning-rate warmup before the peak rate."""
    lr_decay: float = 0.7
    """Factor applied to the learning rate when the holdout RMSE stops improving."""
    patience: int = 3
    """Epochs without holdout improvement before stopping (the best epoch is kept)."""
    min_delta: float = 1e-4
    """Smallest holdout RMSE decrease that counts as an improvement."""
    holdout_fraction: float = 0.1
    """Share of (user, movie) pairs held out, chosen by a hash so it is stable across retrains."""
    seed: int = 0
    """Seed for initialisation, shuffling and dropout."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """``auto`` picks CUDA when present."""
    threads: int = 1
    """Torch CPU threads; 1 is usually fastest on a small busy machine."""
    backend: Literal["auto", "fused", "torch"] = "auto"
    """Of the lazy optimizer: ``fused``: compiled gather/dropout/Adam kernels (CPU; asking
    for them means lazy under optimizer ``auto``); ``torch``: plain PyTorch; ``auto``: fused
    on CPU when available, else torch. The dense optimizer is PyTorch's."""
    min_rating: float = 0.5
    """Lowest rating on the scale; predictions are clamped to it."""
    max_rating: float = 5.0
    """Highest rating on the scale; predictions are clamped to it."""

    def __post_init__(self) -> None:
        # Refused when the config is made, so a bad one never becomes a training job.
        batch = 1 if self.batch_size is None else self.batch_size
        if batch < 1 or self.epochs < 1 or self.min_batches_per_epoch < 1:
            raise InvalidInput("batch_size, epochs and min_batches_per_epoch must be at least 1.")
        if not self.ema_epochs >= 0:
            raise InvalidInput(f"ema_epochs must be 0 (off) or more, got {self.ema_epochs}.")
        if self.optimizer == "dense" and self.backend == "fused":
            raise InvalidInput("backend='fused' runs the lazy optimizer; use optimizer='lazy'.")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def recipe(self, table_values: int) -> Recipe:
        """The optimizer and its settings for an embedding table of ``table_values`` numbers."""
        optimizer = self.optimizer
        if optimizer == "auto":
            small = table_values <= self.dense_max_values
            optimizer = "dense" if small and self.backend != "fused" else "lazy"
        defaults = DENSE_DEFAULTS if optimizer == "dense" else LAZY_DEFAULTS
        return Recipe(
            optimizer=optimizer,
            batch_size=defaults.batch_size if self.batch_size is None else self.batch_size,
            lr=defaults.lr if self.lr is None else self.lr,
            weight_decay=defaults.weight_decay if self.weight_decay is None else self.weight_decay,
            beta2=defaults.beta2 if self.beta2 is None else self.beta2,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if isinstance(values.get("model"), dict):
            values["model"] = ModelConfig.from_dict(values["model"])
        if "optimizer" not in data and "lr" in data:
            # Written before the dense optimizer existed: its batch size, lr and
            # weight decay are the lazy optimizer's, and mean the same only there.
            values["optimizer"] = "lazy"
        return cls(**values)
