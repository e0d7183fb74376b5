from __future__ import annotations

import math

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from nncf_core.app import Core
from nncf_core.db.models import Rating, User
from nncf_core.errors import AmbiguousMovie, InvalidInput, InvalidStars, NotRated, UnknownMovie
from nncf_core.services.ratings import validate_stars
from nncf_core.services.users import UserKey

ALICE = UserKey.parse("alice")


def count_ratings(core: Core) -> int:
    with core.db.session() as session:
        return session.scalar(select(func.count()).select_from(Rating)) or 0


def test_rate_then_rerate_updates_one_row(any_core: Core) -> None:
    first = any_core.ratings.rate(ALICE, "Toy Story", 4.5, "console")
    assert (first.movie.id, first.stars, first.previous) == (1, 4.5, None)
    second = any_core.ratings.rate(ALICE, "1", "3", "console")
    assert (second.stars, second.previous, second.changed) == (3.0, 4.5, True)
    assert count_ratings(any_core) == 1


@pytest.mark.parametrize(
    "bad", [0, 0.25, 5.5, 4.3, -1, math.nan, math.inf, "abc", "nan", True, None]
)
def test_bad_stars_are_refused_and_nothing_is_stored(core: Core, bad: object) -> None:
    with pytest.raises(InvalidStars):
        core.ratings.rate(ALICE, "Toy Story", bad, "console")
    assert count_ratings(core) == 0


def test_validate_stars_accepts_half_steps_and_decimal_commas() -> None:
    assert validate_stars("4,5") == 4.5
    assert [validate_stars(x / 2) for x in range(1, 11)] == [x / 2 for x in range(1, 11)]


def test_check_constraint_enforces_stars_in_the_database(any_core: Core) -> None:
    any_core.ratings.rate(ALICE, "Toy Story", 4, "console")
    with pytest.raises(IntegrityError), any_core.db.session() as session:
        session.execute(text("UPDATE ratings SET stars = 4.3"))
    with any_core.db.session() as session:
        assert session.scalar(select(Rating.stars)) == 4.0


def test_titles_resolve_with_year_article_and_accents(core: Core) -> None:
    assert core.ratings.rate(ALICE, "matrix", 5, "console").movie.id == 3
    assert core.ratings.rate(ALICE, "Matrix, The", 5, "console").movie.id == 3
    assert core.ratings.rate(ALICE, "Heat (1986)", 3, "console").movie.id == 5
    assert (
        core.ratings.rate(
            ALICE, "amelie (fabuleux destin d'amelie poulain, le)", 4, "console"
        ).movie.id
        == 8
    )


def test_ambiguous_and_unknown_titles_store_nothing(core: Core) -> None:
    with pytest.raises(AmbiguousMovie, match=r"Heat \(1995\)"):
        core.ratings.rate(ALICE, "Heat", 4, "console")
    with pytest.raises(UnknownMovie, match="Did you mean"):
        core.ratings.rate(ALICE, "Alie", 4, "console")
    with pytest.raises(InvalidInput):
        core.ratings.rate(ALICE, "x" * 10_000, 4, "console")
    assert count_ratings(core) == 0


def test_list_unrate_export_forget(core: Core) -> None:
    for title, stars in [("Toy Story", 4), ("Jumanji", 3), ("Alien", 5)]:
        core.ratings.rate(ALICE, title, stars, "console")
    page = core.ratings.list_ratings(ALICE, per_page=2)
    assert page.total == 3 and page.pages == 2
    assert [r.title for r in page.items] == ["Alien", "Jumanji"]
    assert core.ratings.unrate(ALICE, "Jumanji").stars == 3
    with pytest.raises(NotRated):
        core.ratings.unrate(ALICE, "Jumanji")
    csv_text = core.ratings.export_csv(ALICE)
    assert csv_text.splitlines()[0] == "movie_id,title,year,stars,rated_at"
    assert len(csv_text.splitlines()) == 3
    bob = UserKey.parse("bob")
    core.ratings.rate(bob, "Toy Story", 2, "console")
    assert core.ratings.forget(ALICE) == 2
    assert core.ratings.user_ratings(ALICE) == {}
    assert core.ratings.user_ratings(bob) == {1: 2.0}
    with core.db.session() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 1


def test_user_keys() -> None:
    assert UserKey.parse("discord:1234").discord_id == 1234
    assert UserKey.parse("movielens:042").external_id == "movielens:42"
    assert UserKey.parse("Zoë").external_id == "console:Zoë"
    for bad in ["", "discord:abc", "discord:99999999999999999999", "x" * 101, "a\x00b"]:
        with pytest.raises(InvalidInput):
            UserKey.parse(bad)


def test_imported_users_are_not_created_by_rating(core: Core) -> None:
    from nncf_core.errors import UnknownUser

    with pytest.raises(UnknownUser):
        core.ratings.rate(UserKey.parse("movielens:1"), "Toy Story", 4, "console")
