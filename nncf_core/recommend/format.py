"""Recommendations as text, the same in the console and the CLI (the bot builds embeds)."""

from __future__ import annotations

from nncf_core.recommend.base import RecommendationList
from nncf_core.services.catalog import MovieRef

COLD_START_HINT = 'Rate a few movies to get personal picks: /rate "Title" 4'


def describe_recommendations(result: RecommendationList, heading: str | None = None) -> str:
    lines = []
    if result.cold_start:
        lines.append(COLD_START_HINT)
        lines.append("Meanwhile, popular and well rated:")
    elif heading:
        lines.append(heading)
    if not result.items:
        lines.append("  Nothing matches those filters.")
    for rank, item in enumerate(result.items, start=1):
        line = f"  {rank:>2}. {item.movie.label}  {item.predicted_stars:.1f}★"
        if item.because is not None:
            line += f"  (because you liked {item.because.label})"
        lines.append(line)
    return "\n".join(lines)


def describe_similar(movie: MovieRef, found: list[tuple[MovieRef, float]]) -> str:
    if not found:
        return f"No movie is close enough to {movie.label} with enough ratings."
    lines = [f"Movies like {movie.label}:"]
    lines += [f"  {rank:>2}. {ref.label}" for rank, (ref, _) in enumerate(found, start=1)]
    return "\n".join(lines)
