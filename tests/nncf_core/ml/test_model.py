"""The network's forward pass against a hand computation, and clamped predictions."""

from __future__ import annotations

import numpy as np
import torch

from nncf_core.ml.artifacts import ModelArtifact
from nncf_core.ml.config import ModelConfig
from nncf_core.ml.model import NNCollabFiltering
from nncf_core.ml.train import predict
from nncf_core.ml.vocab import Vocabulary


def _tiny() -> NNCollabFiltering:
    model = NNCollabFiltering(2, 2, ModelConfig(emb_size=2, n_hidden=2, dropout=0.1))
    with torch.no_grad():
        model.user_emb.weight.copy_(torch.tensor([[1.0, -2.0], [0.5, 3.0]]))
        model.item_emb.weight.copy_(torch.tensor([[2.0, 1.0], [-1.0, 4.0]]))
        model.lin1.weight.copy_(torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, -1.0, 1.0]]))
        model.lin1.bias.copy_(torch.tensor([0.5, -1.0]))
        model.lin2.weight.copy_(torch.tensor([[2.0, 1.0]]))
        model.lin2.bias.copy_(torch.tensor([0.25]))
    return model.eval()


def test_forward_matches_hand_computation() -> None:
    model = _tiny()
    # user 0, item 0: relu(cat) = [1, 0, 2, 1]; lin1 = [1+2+0.5, 0-2+1-1] = [3.5, -2]
    # relu -> [3.5, 0]; lin2 = 7 + 0.25 = 7.25
    # user 1, item 1: relu(cat) = [0.5, 3, 0, 4]; lin1 = [0.5+0.5, 3-0+4-1] = [1, 6]
    # lin2 = 2 + 6 + 0.25 = 8.25
    out = model(torch.tensor([0, 1]), torch.tensor([0, 1]))
    assert out.shape == (2,)
    torch.testing.assert_close(out, torch.tensor([7.25, 8.25]))


def test_dropout_only_in_training_mode() -> None:
    model = _tiny()
    u, v = torch.tensor([0] * 200), torch.tensor([0] * 200)
    assert torch.all(model(u, v) == 7.25)
    model.train()
    torch.manual_seed(0)
    assert torch.unique(model(u, v)).numel() > 1


def test_predict_clamps_and_falls_back() -> None:
    model = _tiny()
    with torch.no_grad():
        model.lin2.bias.fill_(-2.75)
    rows_u, rows_i = np.array([0, 1, -1, 0]), np.array([0, 1, 0, 1])
    raw = model(torch.tensor([0, 1, 0]), torch.tensor([0, 1, 1])).detach().numpy()
    np.testing.assert_allclose(raw, [4.25, 5.25, 3.25])
    out = predict(model, rows_u, rows_i, fallback=3.0)
    assert out.dtype == np.float32
    assert out[2] == 3.0  # unknown user
    np.testing.assert_allclose(out[[0, 1, 3]], np.clip(raw, 0.5, 5.0))
    assert np.isnan(predict(model, np.array([-1]), np.array([0]))[0])

    artifact = ModelArtifact(
        model_config=model.config,
        state_dict=model.state_dict(),
        users=Vocabulary([10, 20]),
        items=Vocabulary([5, 6]),
        global_mean=3.25,
        min_rating=3.5,
        max_rating=4.0,
    )
    out = predict(artifact, rows_u, rows_i)
    np.testing.assert_allclose(out, [4.0, 4.0, 3.25, 3.5])
