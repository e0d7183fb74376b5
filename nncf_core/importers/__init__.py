"""Importers of public rating data sets (MovieLens)."""

from nncf_core.importers.movielens import download_movielens, import_movielens
from nncf_core.importers.summary import ImportSummary

__all__ = ["ImportSummary", "download_movielens", "import_movielens"]
