"""What an import did, as data and as the summary the CLI prints."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ImportSummary:
    path: Path
    layout: str
    lines_read: int
    """Rating lines in the file."""
    movies_added: int
    movies_updated: int
    movies_unchanged: int
    users_added: int
    users_existing: int
    ratings_added: int
    ratings_updated: int
    ratings_unchanged: int
    ratings_skipped: Counter[str] = field(default_factory=Counter)
    """Reason -> number of rating lines not imported for it."""
    movies_skipped: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(
            self.movies_added
            or self.movies_updated
            or self.users_added
            or self.ratings_added
            or self.ratings_updated
        )

    @property
    def n_skipped(self) -> int:
        return sum(self.ratings_skipped.values())

    def as_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["path"] = str(self.path)
        values["ratings_skipped"] = dict(self.ratings_skipped)
        values["movies_skipped"] = dict(self.movies_skipped)
        return values

    def __str__(self) -> str:
        lines = [
            f"Imported MovieLens ({self.layout}) from {self.path} in {self.seconds:.1f} s:",
            f"  movies:  {self.movies_added:,} added, {self.movies_updated:,} updated, "
            f"{self.movies_unchanged:,} unchanged",
            f"  users:   {self.users_added:,} added, {self.users_existing:,} already there",
            f"  ratings: {self.ratings_added:,} added, {self.ratings_updated:,} updated, "
            f"{self.ratings_unchanged:,} unchanged, {self.n_skipped:,} skipped "
            f"(of {self.lines_read:,} lines)",
        ]
        lines += [
            f"  {count:,} skipped: {reason}" for reason, count in self.ratings_skipped.most_common()
        ]
        lines += [
            f"  {count:,} {'movie' if count == 1 else 'movies'} skipped: {reason}"
            for reason, count in self.movies_skipped.most_common()
        ]
        return "\n".join(lines)
