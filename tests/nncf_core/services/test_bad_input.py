"""Property-based bad input over the rating path: every case answers with a clear domain
error (or succeeds on a real movie) and stores nothing it should not."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from nncf_core.app import Core
from nncf_core.db.models import Rating
from nncf_core.errors import NNCFError
from nncf_core.services.ratings import validate_stars
from nncf_core.services.users import UserKey

NASTY_TEXT = st.one_of(
    st.text(max_size=300),
    st.sampled_from(
        [
            "Robert'); DROP TABLE ratings;--",
            "' OR 1=1 --",
            "%",
            "_",
            "**bold** `code` @everyone <@123>",
            "مرحبا بالعالم",
            "\u202etxet ltr",
            "🎬🍿" * 50,
            "x" * 10_000,
            "\x00\x01",
            "   ",
        ]
    ),
)
ANY_STARS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.text(max_size=20),
    st.none(),
    st.booleans(),
)

FAST = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _count(core: Core) -> int:
    with core.db.session() as session:
        return session.scalar(select(func.count()).select_from(Rating)) or 0


@FAST
@given(title=NASTY_TEXT)
def test_any_title_is_rated_or_refused_clearly(core: Core, title: str) -> None:
    before = _count(core)
    try:
        result = core.ratings.rate(UserKey.parse("fuzz"), title, 3, "console")
    except NNCFError as error:
        assert str(error) and len(str(error)) < 600
        assert _count(core) == before
    else:
        assert core.catalog.get(result.movie.id) is not None


@FAST
@given(stars=ANY_STARS)
def test_any_stars_value_is_stored_only_when_it_is_a_half_step(core: Core, stars: object) -> None:
    user = UserKey.parse("fuzz")
    core.ratings.forget(user)
    try:
        value = validate_stars(stars)
    except NNCFError:
        try:
            core.ratings.rate(user, "Toy Story", stars, "console")
        except NNCFError:
            pass
        else:  # pragma: no cover - the assertion below reports it
            raise AssertionError(f"{stars!r} was stored")
        assert core.ratings.user_ratings(user) == {}
    else:
        assert math.isfinite(value) and 0.5 <= value <= 5.0 and (value * 2).is_integer()
        core.ratings.rate(user, "Toy Story", stars, "console")
        assert core.ratings.user_ratings(user) == {1: value}


@FAST
@given(text=NASTY_TEXT)
def test_search_and_autocomplete_never_fail_and_fit_discord(core: Core, text: str) -> None:
    choices = core.catalog.autocomplete(text)
    assert len(choices) <= 25
    assert all(len(name) <= 100 and value.isdigit() for name, value in choices)


@FAST
@given(spec=NASTY_TEXT)
def test_user_names_parse_or_are_refused_clearly(spec: str) -> None:
    try:
        key = UserKey.parse(spec)
    except NNCFError as error:
        assert str(error)
    else:
        assert str(key)
