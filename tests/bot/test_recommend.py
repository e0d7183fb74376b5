"""/recommend for new and established users, its components, /similar and /start."""

from __future__ import annotations

import re

import pytest

from tests.bot.data import ESTABLISHED_DISCORD_ID
from tests.bot.fake_discord import FakeUser, custom_ids, find_component
from tests.bot.fake_discord.payloads import EPHEMERAL
from tests.bot.harness import BotHarness

pytestmark = pytest.mark.asyncio(loop_scope="module")

MATRIX = 2571


def listed_movies(message: dict) -> list[int]:
    select = find_component(message, "nncf:pick:recs") or find_component(
        message, "nncf:pick:similar"
    )
    assert select is not None, custom_ids(message)
    return [int(option["value"]) for option in select["options"]]


def established(harness: BotHarness) -> FakeUser:
    return FakeUser(ESTABLISHED_DISCORD_ID, "regular")


async def test_a_new_user_gets_popular_picks_and_a_hint(harness: BotHarness) -> None:
    _, answer = await harness.run("recommend", harness.user("newcomer"))
    assert answer["flags"] & EPHEMERAL
    embed = answer["embeds"][0]
    assert embed["title"] == "Popular picks"
    assert "/start" in embed["description"]
    assert len(listed_movies(answer)) == 10


async def test_an_established_user_gets_personal_picks_with_reasons(harness: BotHarness) -> None:
    user = established(harness)
    rated = set(harness.stored_ratings(user))
    _, answer = await harness.run("recommend", user, count=5)
    embed = answer["embeds"][0]
    assert embed["title"] == "Recommended for you"
    assert re.search(r"model v\d+", embed["footer"]["text"])
    assert "predicted" in embed["description"]
    assert "because you liked" in embed["description"]
    movies = listed_movies(answer)
    assert len(movies) == 5
    assert not set(movies) & rated


async def test_rating_from_the_menu_stores_the_rating(harness: BotHarness) -> None:
    user = harness.user("clicker")
    _, answer = await harness.run("recommend", user, count=3)
    movie = listed_movies(answer)[0]
    record, panel = await harness.click(answer, "nncf:pick:recs", user, values=[str(movie)])
    assert record.callback["type"] == 4  # the catalogue is in memory: no deferral
    assert panel["flags"] & EPHEMERAL
    assert f"nncf:rate:{movie}:9" in custom_ids(panel)
    record, rated = await harness.click(panel, f"nncf:rate:{movie}:9", user)
    assert record.callback == {"type": 6}
    assert "4.5 stars" in rated["content"]
    assert harness.stored_ratings(user) == {movie: 4.5}


async def test_not_interested_hides_a_movie_from_later_recommendations(
    harness: BotHarness,
) -> None:
    user = harness.user("picky")
    _, answer = await harness.run("recommend", user, count=5)
    movie = listed_movies(answer)[0]
    _, panel = await harness.click(answer, "nncf:pick:recs", user, values=[str(movie)])
    _, flagged = await harness.click(panel, f"nncf:flag:{movie}:not_interested", user)
    assert "will not be recommended" in flagged["content"]
    _, again = await harness.run("recommend", user, count=5)
    assert movie not in listed_movies(again)
    assert harness.stored_ratings(user) == {}


async def test_more_shows_the_next_page_in_place(harness: BotHarness) -> None:
    user = established(harness)
    _, first = await harness.run("recommend", user, count=4)
    assert "nncf:more:4:4:" in custom_ids(first)
    record, second = await harness.click(first, "nncf:more:4:4:", user)
    assert record.callback == {"type": 6}
    assert second["id"] == first["id"]
    assert "**5. " in second["embeds"][0]["description"]
    page_one, page_two = listed_movies(first), listed_movies(second)
    assert len(page_two) == 4 and not set(page_one) & set(page_two)
    assert "nncf:more:8:4:" in custom_ids(second)


async def test_genre_autocomplete_and_filter(harness: BotHarness) -> None:
    user = harness.user("genre-fan")
    choices = await harness.choices("recommend", user, "genre", genre="sci")
    assert [c["value"] for c in choices] == ["Sci-Fi"]
    _, answer = await harness.run("recommend", user, genre="scifi", count=5)
    assert answer["embeds"][0]["title"].endswith("· Sci-Fi")
    for movie in listed_movies(answer):
        ref = harness.core.catalog.get(movie)
        assert ref is not None and "Sci-Fi" in ref.genres
    assert "nncf:more:5:5:Sci-Fi" in custom_ids(answer)


async def test_unknown_genre_is_refused_with_the_list(harness: BotHarness) -> None:
    _, answer = await harness.run("recommend", harness.user("typo"), genre="Cowboy Opera")
    assert "Unknown genre" in answer["content"]
    assert "Western" in answer["content"]
    assert answer["embeds"] == [] and answer["components"] == []


async def test_recommend_bursts_hit_a_cooldown(harness: BotHarness) -> None:
    user = harness.user("greedy")
    answers = [(await harness.run("recommend", user, count=1))[1] for _ in range(5)]
    assert all(a["embeds"] for a in answers[:4])
    assert "try again in" in answers[4]["content"]


async def test_similar_lists_neighbours_with_a_menu(harness: BotHarness) -> None:
    user = harness.user("explorer")
    _, answer = await harness.run("similar", user, movie=str(MATRIX))
    embed = answer["embeds"][0]
    assert embed["title"] == "Movies like The Matrix (1999)"
    movies = listed_movies(answer)
    assert len(movies) == 10 and MATRIX not in movies
    _, unknown = await harness.run("similar", user, movie="no such film at all")
    assert "No movie matches" in unknown["content"]


async def test_start_walks_through_varied_popular_movies(harness: BotHarness) -> None:
    user = harness.user("onboarding")
    _, step = await harness.run("start", user)
    seen: list[int] = []
    genres: set[str] = set()
    for number in range(1, 4):
        embed = step["embeds"][0]
        assert embed["title"].startswith(f"Getting to know your taste · {number} of ")
        ids = custom_ids(step)
        assert len(ids) == 12 and all(len(i) <= 100 for i in ids)
        movie = int(ids[0].split(":")[3], 36)
        seen.append(movie)
        ref = harness.core.catalog.get(movie)
        assert ref is not None
        genres.update(ref.genres[:1])
        action = ids[7] if number != 2 else ids[10]  # 4 stars, or "haven't seen it"
        record, step = await harness.click(step, action, user)
        assert record.callback is not None
    assert len(set(seen)) == 3 and len(genres) >= 2
    assert harness.stored_ratings(user) == {seen[0]: 4.0, seen[2]: 4.0}
    stop = custom_ids(step)[11]
    _, stopped = await harness.click(step, stop, user)
    assert "Stopped" in stopped["content"] and stopped["components"] == []
