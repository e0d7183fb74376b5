"""The NNCF network, exactly as the reference describes it."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from nncf_core.ml.config import ModelConfig


class NNCollabFiltering(nn.Module):
    """Embeddings for users and items, ReLU of their concatenation, dropout, one hidden
    ReLU layer and a linear output: the predicted rating (unclamped)."""

    def __init__(self, num_users: int, num_items: int, config: ModelConfig = ModelConfig()) -> None:
        super().__init__()
        self.config = config
        self.user_emb = nn.Embedding(num_users, config.emb_size)
        self.item_emb = nn.Embedding(num_items, config.emb_size)
        self.lin1 = nn.Linear(2 * config.emb_size, config.n_hidden)
        self.lin2 = nn.Linear(config.n_hidden, 1)
        self.drop1 = nn.Dropout(config.dropout)

    @property
    def num_users(self) -> int:
        return self.user_emb.num_embeddings

    @property
    def num_items(self) -> int:
        return self.item_emb.num_embeddings

    def forward(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        x = F.relu(torch.cat([self.user_emb(u), self.item_emb(v)], dim=1))
        x = self.drop1(x)
        x = F.relu(self.lin1(x))
        return self.lin2(x).squeeze(-1)
