"""Vocabularies: external ids (database user or movie ids) to contiguous embedding rows."""

from __future__ import annotations

import numpy as np
import torch

UNKNOWN = -1


class Vocabulary:
    """A sorted array of external ids; row ``i`` of an embedding belongs to ``ids[i]``.

    Unknown ids map to :data:`UNKNOWN` (-1), a defined case callers must handle,
    never an IndexError.
    """

    def __init__(self, ids: np.ndarray | list[int]) -> None:
        array = np.asarray(ids, dtype=np.int64)
        if array.ndim != 1:
            raise ValueError("a vocabulary is a 1-d array of ids")
        array = np.unique(array)
        self.ids = array

    @classmethod
    def from_values(cls, values: np.ndarray) -> Vocabulary:
        return cls(np.unique(values))

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def __contains__(self, external_id: object) -> bool:
        return isinstance(external_id, int | np.integer) and self.row(int(external_id)) != UNKNOWN

    def row(self, external_id: int) -> int:
        position = int(np.searchsorted(self.ids, external_id))
        if position < len(self.ids) and self.ids[position] == external_id:
            return position
        return UNKNOWN

    def rows(self, external_ids: np.ndarray) -> np.ndarray:
        """Rows for many ids at once; unknown ones are -1."""
        values = np.asarray(external_ids, dtype=np.int64)
        if len(self.ids) == 0:
            return np.full(values.shape, UNKNOWN, dtype=np.int64)
        positions = np.searchsorted(self.ids, values)
        clipped = np.minimum(positions, len(self.ids) - 1)
        found = self.ids[clipped] == values
        return np.where(found, clipped, UNKNOWN).astype(np.int64)

    def external(self, rows: np.ndarray) -> np.ndarray:
        return self.ids[np.asarray(rows, dtype=np.int64)]

    def to_tensor(self) -> torch.Tensor:
        return torch.from_numpy(self.ids.copy())

    @classmethod
    def from_tensor(cls, tensor: torch.Tensor) -> Vocabulary:
        ids = tensor.detach().cpu().numpy().astype(np.int64)
        if len(ids) > 1 and not np.all(ids[1:] > ids[:-1]):
            raise ValueError("vocabulary ids must be strictly increasing")
        vocab = cls.__new__(cls)
        vocab.ids = ids
        return vocab

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and np.array_equal(self.ids, other.ids)

    def __hash__(self) -> int:
        return hash(self.ids.tobytes())
