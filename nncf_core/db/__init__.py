"""Data layer: schema, engine set-up and migrations."""

from nncf_core.db.engine import Database, make_engine
from nncf_core.db.models import Base, ModelVersion, Movie, MovieFlag, Rating, TrainingJob, User

__all__ = [
    "Base",
    "Database",
    "ModelVersion",
    "Movie",
    "MovieFlag",
    "Rating",
    "TrainingJob",
    "User",
    "make_engine",
]
