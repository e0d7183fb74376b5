"""What orders a recommendation list, kept apart from the stars shown next to each movie.

The predicted stars are always the rating model's output. The ranking score is
whatever a :class:`Ranker` makes of the model version: by default the predicted
rating itself, but a ranker may blend in a popularity prior (``item_bias``) or
use a second head stored in ``artifact.extras``, and the serving code does not
change: it asks the ranker for a :class:`ScoringHead` once per model version.
"""

from __future__ import annotations

from typing import Protocol

from nncf_core.ml.artifacts import ModelArtifact
from nncf_core.recommend.features import ItemFeatures
from nncf_core.recommend.scoring import ScoringHead


class Ranker(Protocol):
    name: str

    def head(
        self, artifact: ModelArtifact, rating: ScoringHead, features: ItemFeatures
    ) -> ScoringHead:
        """The head whose score orders the list, for one model version.

        ``rating`` is the rating model's head; ``features`` is aligned with the
        artifact's item vocabulary (counts and rating sums from the database)."""
        ...


class RatingRanker:
    """Rank by the predicted rating (the reference behaviour)."""

    name = "rating"

    def head(
        self, artifact: ModelArtifact, rating: ScoringHead, features: ItemFeatures
    ) -> ScoringHead:
        return rating
