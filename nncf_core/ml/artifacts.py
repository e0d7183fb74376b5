"""Model artifacts: state_dict + vocabularies + config + metrics + data fingerprint.

Never a pickled module: the file is a ``torch.save`` of plain dicts, lists,
numbers, strings and tensors, loaded with ``weights_only=True``. Files are
written atomically (temporary file, fsync, rename) so that a crash while
writing never leaves a partial artifact under the final name.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from nncf_core.errors import ArtifactError
from nncf_core.ml.config import ModelConfig
from nncf_core.ml.model import NNCollabFiltering
from nncf_core.ml.vocab import Vocabulary

FORMAT = "nncf-bot/model"
FORMAT_VERSION = 1
USER_RATING_COUNTS = "user_rating_counts"
"""``extras`` key: int32 per user row, how many ratings the user had in the training data."""


@dataclass
class ModelArtifact:
    """Everything needed to serve a trained model, and to judge it."""

    model_config: ModelConfig
    state_dict: dict[str, torch.Tensor]
    users: Vocabulary
    """Rows of the user embedding, keyed by ``users.id``."""
    items: Vocabulary
    """Rows of the item embedding, keyed by ``movies.id``."""
    train_config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    """Holdout RMSE/MAE, the training curve, timings."""
    n_ratings: int = 0
    """Data fingerprint: number of ratings the model was trained on (train + holdout)."""
    newest_rating_at: str | None = None
    """Data fingerprint: ISO time of the newest rating seen."""
    global_mean: float = 3.5
    min_rating: float = 0.5
    max_rating: float = 5.0
    extras: dict[str, torch.Tensor] = field(default_factory=dict)
    """Optional tensors for the serving side (e.g. a ranking head, item rating counts)."""
    extras_meta: dict[str, Any] = field(default_factory=dict)
    """Plain data describing ``extras`` (their configs)."""

    def build_model(self) -> NNCollabFiltering:
        """The network in eval mode, on the CPU."""
        model = NNCollabFiltering(len(self.users), len(self.items), self.model_config)
        try:
            model.load_state_dict(self.state_dict)
        except RuntimeError as error:
            raise ArtifactError(f"Model weights do not fit the saved config: {error}") from None
        return model.eval()

    def to_payload(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model_config": self.model_config.as_dict(),
            "train_config": self.train_config,
            "state_dict": {k: v.detach().cpu().contiguous() for k, v in self.state_dict.items()},
            "users": self.users.to_tensor(),
            "items": self.items.to_tensor(),
            "metrics": self.metrics,
            "n_ratings": int(self.n_ratings),
            "newest_rating_at": self.newest_rating_at,
            "global_mean": float(self.global_mean),
            "min_rating": float(self.min_rating),
            "max_rating": float(self.max_rating),
            "extras": {k: v.detach().cpu().contiguous() for k, v in self.extras.items()},
            "extras_meta": self.extras_meta,
        }

    @classmethod
    def from_payload(cls, payload: Any) -> ModelArtifact:
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise ArtifactError("Not an nncf-bot model artifact.")
        version = payload.get("format_version")
        if version != FORMAT_VERSION:
            raise ArtifactError(
                f"Artifact format version {version} is not supported (this code reads "
                f"{FORMAT_VERSION}); retrain the model."
            )
        try:
            artifact = cls(
                model_config=ModelConfig.from_dict(payload["model_config"]),
                state_dict=dict(payload["state_dict"]),
                users=Vocabulary.from_tensor(payload["users"]),
                items=Vocabulary.from_tensor(payload["items"]),
                train_config=dict(payload.get("train_config") or {}),
                metrics=dict(payload.get("metrics") or {}),
                n_ratings=int(payload.get("n_ratings", 0)),
                newest_rating_at=payload.get("newest_rating_at"),
                global_mean=float(payload.get("global_mean", 3.5)),
                min_rating=float(payload.get("min_rating", 0.5)),
                max_rating=float(payload.get("max_rating", 5.0)),
                extras=dict(payload.get("extras") or {}),
                extras_meta=dict(payload.get("extras_meta") or {}),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ArtifactError(f"Artifact is incomplete or malformed: {error}") from None
        artifact._check_shapes()
        return artifact

    def _check_shapes(self) -> None:
        expected = {
            "user_emb.weight": (len(self.users), self.model_config.emb_size),
            "item_emb.weight": (len(self.items), self.model_config.emb_size),
            "lin1.weight": (self.model_config.n_hidden, 2 * self.model_config.emb_size),
            "lin2.weight": (1, self.model_config.n_hidden),
        }
        for name, shape in expected.items():
            tensor = self.state_dict.get(name)
            if tensor is None:
                raise ArtifactError(f"Artifact has no {name}.")
            if tuple(tensor.shape) != shape:
                raise ArtifactError(
                    f"Artifact's {name} has shape {tuple(tensor.shape)}, but its config and "
                    f"vocabularies need {shape}: incompatible artifact."
                )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_artifact(artifact: ModelArtifact, path: Path) -> str:
    """Write ``artifact`` to ``path`` atomically; returns its SHA-256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(artifact.to_payload(), handle)
            handle.flush()
            os.fsync(handle.fileno())
        digest = file_sha256(tmp)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return digest


def load_artifact(path: Path, expected_sha256: str | None = None) -> ModelArtifact:
    """Load and validate an artifact; anything wrong raises :class:`ArtifactError`."""
    if not path.is_file():
        raise ArtifactError(f"Model artifact {path} is missing.")
    if expected_sha256 is not None:
        actual = file_sha256(path)
        if actual != expected_sha256:
            raise ArtifactError(
                f"Model artifact {path} is corrupt or was replaced (checksum {actual[:12]} "
                f"!= registered {expected_sha256[:12]})."
            )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ArtifactError(f"Model artifact {path} cannot be read: {error}") from None
    return ModelArtifact.from_payload(payload)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
