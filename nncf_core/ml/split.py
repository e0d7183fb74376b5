"""The holdout: a stable hash of (user_id, movie_id) decides which ratings are held out.

Stable across retrains and independent of row order or of how many ratings
exist, so a pair held out once is held out forever (while the fraction does not
change): a previous model was never trained on the pairs a new one is judged on,
and the two can be compared on the same holdout.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_SALT = np.uint64(0x6E6E63662D626F74)  # "nncf-bot": a different holdout than a bare hash


def splitmix64(values: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, element-wise on uint64 (wrapping arithmetic)."""
    z = np.asarray(values, dtype=np.uint64) + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def pair_hash(user_ids: np.ndarray, movie_ids: np.ndarray) -> np.ndarray:
    """A uint64 hash of each (user_id, movie_id) pair."""
    users = np.asarray(user_ids, dtype=np.int64).astype(np.uint64)
    movies = np.asarray(movie_ids, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        return splitmix64(splitmix64(users ^ _SALT) ^ movies)


def holdout_mask(user_ids: np.ndarray, movie_ids: np.ndarray, fraction: float) -> np.ndarray:
    """True for the ratings held out: about ``fraction`` of them, the same pairs every time."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"holdout fraction must be in [0, 1), got {fraction}")
    hashes = pair_hash(user_ids, movie_ids)
    # Top 53 bits as a uniform number in [0, 1): exact in float64.
    uniform = (hashes >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
    return uniform < fraction
