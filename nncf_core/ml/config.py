"""Typed configuration of the model and of its training, one docstring per field."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal


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
class TrainConfig:
    """How a model is trained. ``nncf-bot train`` exposes the useful fields as options."""

    model: ModelConfig = ModelConfig()
    """Architecture of the model to train."""
    epochs: int = 30
    """Upper bound on epochs; early stopping usually ends training sooner."""
    batch_size: int = 8192
    """Ratings per minibatch (at most: see ``min_batches_per_epoch``)."""
    min_batches_per_epoch: int = 64
    """Small data sets get smaller batches, so that an epoch has at least this many steps."""
    lr: float = 3e-3
    """Peak learning rate of Adam."""
    weight_decay: float = 0.03
    """L2 penalty on the embedding rows a batch touches, per rating: the gradient of
    ``weight_decay / 2 * batch mean of (|user row|^2 + |item row|^2)``."""
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
    """``fused``: compiled gather/dropout/Adam kernels (CPU); ``torch``: plain PyTorch;
    ``auto``: fused on CPU when available, else torch."""
    min_rating: float = 0.5
    """Lowest rating on the scale; predictions are clamped to it."""
    max_rating: float = 5.0
    """Highest rating on the scale; predictions are clamped to it."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if isinstance(values.get("model"), dict):
            values["model"] = ModelConfig.from_dict(values["model"])
        return cls(**values)
