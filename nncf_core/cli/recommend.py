"""`nncf-bot recommend` and `nncf-bot similar`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from nncf_core.cli.common import echo, echo_json, open_core
from nncf_core.errors import InvalidInput
from nncf_core.recommend.base import DEFAULT_MIN_RATINGS, Filters
from nncf_core.recommend.format import describe_recommendations, describe_similar
from nncf_core.services.users import UserKey


def recommend(
    user: str | None = typer.Option(
        None, "--user", help="movielens:42, discord:ID or a console name."
    ),
    users_file: Path | None = typer.Option(
        None,
        "--users-file",
        help="A file with one user per line: recommend for each, with one model load.",
        exists=True,
        dir_okay=False,
    ),
    n: int = typer.Option(10, "--n", help="How many movies (1-100)."),
    genre: list[str] = typer.Option([], "--genre", help="Only these genres (repeatable)."),
    year_from: int | None = typer.Option(None, "--year-from", help="Released in or after."),
    year_to: int | None = typer.Option(None, "--year-to", help="Released in or before."),
    min_ratings: int = typer.Option(
        DEFAULT_MIN_RATINGS, "--min-ratings", help="Leave out movies with fewer ratings."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (one line per user in batch)."),
) -> None:
    """Movies a user has not rated, best first, with the predicted stars and a reason."""
    if (user is None) == (users_file is None):
        raise InvalidInput("Give either --user or --users-file.")
    filters = Filters(
        genres=tuple(genre), year_from=year_from, year_to=year_to, min_ratings=min_ratings
    )
    keys = (
        [UserKey.parse(user)] if user is not None else _read_users(users_file)  # type: ignore[arg-type]
    )
    with open_core() as core:
        results = core.recommender.recommend_many(keys, n, filters)
    if user is not None:
        result = results[0]
        if as_json:
            echo_json(result.as_dicts())
        else:
            echo(describe_recommendations(result, f"Recommended for {keys[0]}:"))
        return
    for key, result in zip(keys, results, strict=True):
        if as_json:
            line = {"user": str(key), "recommendations": result.as_dicts()}
            sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
        else:
            echo(describe_recommendations(result, f"Recommended for {key}:"))


def similar(
    movie: str = typer.Argument(..., help="Movie id or title, e.g. 'Alien (1979)'."),
    n: int = typer.Option(10, "--n", help="How many movies (1-100)."),
    min_ratings: int = typer.Option(
        DEFAULT_MIN_RATINGS, "--min-ratings", help="Leave out movies with fewer ratings."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The movies nearest to MOVIE in the model's item space."""
    with open_core() as core:
        ref = core.catalog.resolve(movie)
        found = core.recommender.similar(ref.id, n, Filters(min_ratings=min_ratings))
    if as_json:
        echo_json(
            [
                {"movie_id": m.id, "title": m.title, "year": m.year, "similarity": round(s, 4)}
                for m, s in found
            ]
        )
    else:
        echo(describe_similar(ref, found))


def _read_users(path: Path) -> list[UserKey]:
    keys = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            keys.append(UserKey.parse(text))
        except InvalidInput as error:
            raise InvalidInput(f"{path}:{number}: {error}") from None
    if not keys:
        raise InvalidInput(f"{path} names no users.")
    return keys


def register(app: typer.Typer) -> None:
    app.command("recommend")(recommend)
    app.command("similar")(similar)
