"""Recommendations from the active model: top-N, fold-in, popularity fallback, similar movies.

Exports resolve lazily, so that importing the light parts (filters, result
types, text formatting) does not load numba and torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nncf_core.recommend.base import (
        DEFAULT_MIN_RATINGS,
        Filters,
        Recommendation,
        RecommendationList,
    )
    from nncf_core.recommend.engine import Recommender
    from nncf_core.recommend.popularity import PopularityRecommender

_EXPORTS = {
    "DEFAULT_MIN_RATINGS": "nncf_core.recommend.base",
    "Filters": "nncf_core.recommend.base",
    "Recommendation": "nncf_core.recommend.base",
    "RecommendationList": "nncf_core.recommend.base",
    "Recommender": "nncf_core.recommend.engine",
    "PopularityRecommender": "nncf_core.recommend.popularity",
}

__all__ = [
    "DEFAULT_MIN_RATINGS",
    "Filters",
    "PopularityRecommender",
    "Recommendation",
    "RecommendationList",
    "Recommender",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(module), name)
