"""/rate (autocomplete and typed titles, bad input), /unrate, /ratings, /movie, /export,
/forget-me, through the fake Discord."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import insert

from nncf_core.db.models import Movie
from tests.bot.fake_discord import custom_ids
from tests.bot.fake_discord.payloads import EPHEMERAL
from tests.bot.harness import BotHarness

pytestmark = pytest.mark.asyncio(loop_scope="module")

TOY_STORY = 1
MATRIX = 2571


def _deferred_ephemeral(record: object) -> bool:
    callback = record.callback  # type: ignore[attr-defined]
    return callback == {"type": 5, "data": {"flags": EPHEMERAL}}


async def test_autocomplete_answers_with_ids_and_rating_a_choice_stores_it(
    harness: BotHarness,
) -> None:
    # DISCORD_DEV_GUILD_IDS: synced to the dev guild at start, never globally.
    assert harness.fake.sync_calls == [harness.fake.guild_id]
    assert harness.fake.identify_payloads[0]["intents"] == 1  # guilds only
    user = harness.user("auto")
    choices = await harness.choices("rate", user, "movie", movie="matri", stars=4.0)
    assert 0 < len(choices) <= 25
    assert all(len(c["name"]) <= 100 for c in choices)
    assert {"name": "The Matrix (1999)", "value": str(MATRIX)} in choices
    record, answer = await harness.run("rate", user, movie=str(MATRIX), stars=4.0)
    assert _deferred_ephemeral(record)
    assert answer["flags"] & EPHEMERAL
    assert "Rated **The Matrix (1999)**: 4 stars." in answer["content"]
    assert harness.stored_ratings(user) == {MATRIX: 4.0}


async def test_empty_autocomplete_offers_popular_movies(harness: BotHarness) -> None:
    choices = await harness.choices("rate", harness.user("browse"), "movie", movie="")
    assert len(choices) == 25
    assert all(c["value"].isdigit() for c in choices)


async def test_typed_title_is_matched_and_a_change_shows_the_previous_rating(
    harness: BotHarness,
) -> None:
    user = harness.user("typist")
    _, first = await harness.run("rate", user, movie="toy story", stars=3.5)
    assert "Rated **Toy Story (1995)**: 3.5 stars." in first["content"]
    _, second = await harness.run("rate", user, movie="Toy Story (1995)", stars=5.0)
    assert "5 stars (was 3.5)" in second["content"]
    _, same = await harness.run("rate", user, movie="Matrix, The", stars=2.0)
    assert "The Matrix (1999)" in same["content"]
    assert harness.stored_ratings(user) == {TOY_STORY: 5.0, MATRIX: 2.0}


@pytest.mark.parametrize(
    ("movie", "stars", "expected"),
    [
        ("Toy Story", 4.3, "half steps"),
        ("Toy Story", 7.0, "half steps"),
        ("Toy Story", 0.0, "half steps"),
        ("A Movie That Does Not Exist", 4.0, "No movie matches"),
        ("x" * 5000, 4.0, "at most 200 characters"),
        ("   ", 4.0, "Give a movie title"),
        ("@everyone 🎬\u200b<@123>", 4.0, "No movie matches"),
        ("Toy Story (1066)", 4.0, "No movie matches"),
    ],
)
async def test_bad_input_is_answered_clearly_and_nothing_is_stored(
    harness: BotHarness, movie: str, stars: float, expected: str
) -> None:
    user = harness.user("careless")
    record, answer = await harness.run("rate", user, movie=movie, stars=stars)
    assert expected in answer["content"]
    assert answer["flags"] & EPHEMERAL
    assert "Something went wrong" not in answer["content"]
    assert len(answer["content"]) < 500
    assert harness.stored_ratings(user) == {}
    # Whatever the user typed, the bot's message cannot ping anyone.
    edits = [c for c in record.calls if c.method == "PATCH"]
    assert edits and all(c.body["allowed_mentions"] == {"parse": []} for c in edits)


async def test_ambiguous_title_lists_candidates_and_the_year_resolves_it(
    harness: BotHarness,
) -> None:
    with harness.core.db.session() as session:
        session.execute(
            insert(Movie),
            [
                {
                    "id": 9_000_001,
                    "title": "Solaris",
                    "year": 1972,
                    "genres": "Drama|Sci-Fi",
                    "title_normalized": "solaris",
                },
                {
                    "id": 9_000_002,
                    "title": "Solaris",
                    "year": 2002,
                    "genres": "Drama|Sci-Fi",
                    "title_normalized": "solaris",
                },
            ],
        )
    harness.core.catalog.refresh()
    user = harness.user("cinephile")
    _, answer = await harness.run("rate", user, movie="Solaris", stars=4.0)
    assert "matches 2 movies" in answer["content"]
    assert "Solaris (1972)" in answer["content"] and "Solaris (2002)" in answer["content"]
    assert harness.stored_ratings(user) == {}
    _, answer = await harness.run("rate", user, movie="Solaris (2002)", stars=4.0)
    assert harness.stored_ratings(user) == {9_000_002: 4.0}


async def test_rating_bursts_hit_a_friendly_cooldown(harness: BotHarness) -> None:
    user = harness.user("hasty")
    answers = [
        (await harness.run("rate", user, movie="Toy Story", stars=1.0 + (i % 8) / 2))[1]
        for i in range(11)
    ]
    assert all("Rated" in a["content"] or "was" in a["content"] for a in answers[:10])
    assert "try again in" in answers[10]["content"]
    assert harness.stored_ratings(user) == {TOY_STORY: 1.0 + (9 % 8) / 2}


async def test_ratings_are_paged_newest_first_with_buttons(harness: BotHarness) -> None:
    user = harness.user("pager")
    for title in [
        "Heat",
        "Alien",
        "Aliens",
        "Fargo",
        "Casino",
        "Memento",
        "Gladiator",
        "Braveheart",
        "Titanic",
    ]:
        await harness.run("rate", user, movie=title, stars=3.0)
    # Star buttons have no cooldown: the newest ratings come from /movie's panel.
    for title in ["Jumanji", "Twister", "Toy Story"]:
        _, panel = await harness.run("movie", user, title=title)
        movie_id = int(panel["embeds"][0]["footer"]["text"].split()[-1])
        await harness.click(panel, f"nncf:rate:{movie_id}:8", user)
    assert len(harness.stored_ratings(user)) == 12
    _, first = await harness.run("ratings", user)
    embed = first["embeds"][0]
    assert embed["title"] == "Your ratings (12)"
    assert embed["footer"]["text"].startswith("Page 1 of 2")
    lines = embed["description"].splitlines()
    assert len(lines) == 10
    assert "Toy Story (1995)" in lines[0] and "Twister" in lines[1]
    assert custom_ids(first) == ["nncf:ratings:0:prev", "nncf:ratings:2:next"]
    record, second = await harness.click(first, "nncf:ratings:2:next", user)
    assert record.callback == {"type": 6}
    assert second["id"] == first["id"]  # edited in place
    assert second["embeds"][0]["footer"]["text"].startswith("Page 2 of 2")
    assert len(second["embeds"][0]["description"].splitlines()) == 2


async def test_unrate_removes_and_explains_when_nothing_was_rated(harness: BotHarness) -> None:
    user = harness.user("regretful")
    await harness.run("rate", user, movie="Toy Story", stars=2.0)
    _, answer = await harness.run("unrate", user, movie=str(TOY_STORY))
    assert "Removed your 2-star rating of **Toy Story (1995)**" in answer["content"]
    _, again = await harness.run("unrate", user, movie=str(TOY_STORY))
    assert "You have not rated Toy Story (1995)" in again["content"]
    assert harness.stored_ratings(user) == {}


async def test_movie_shows_community_average_and_your_rating(harness: BotHarness) -> None:
    user = harness.user("curious")
    await harness.run("rate", user, movie="The Matrix", stars=4.5)
    _, answer = await harness.run("movie", user, title="The Matrix (1999)")
    fields = {f["name"]: f["value"] for f in answer["embeds"][0]["fields"]}
    assert answer["embeds"][0]["title"] == "The Matrix (1999)"
    assert "Sci-Fi" in fields["Genres"]
    assert "ratings)" in fields["Community"]
    assert fields["You"] == "★★★★½ 4.5"
    assert f"nncf:rate:{MATRIX}:10" in custom_ids(answer)


async def test_export_sends_the_ratings_as_csv(harness: BotHarness) -> None:
    user = harness.user("exporter")
    _, empty = await harness.run("export", user)
    assert "no ratings" in empty["content"]
    await harness.run("rate", user, movie="Toy Story", stars=4.0)
    await harness.run("rate", user, movie="The Matrix", stars=3.5)
    _, answer = await harness.run("export", user)
    assert answer["flags"] & EPHEMERAL
    (attachment,) = answer["attachments"]
    assert attachment["filename"] == "nncf-ratings.csv"
    data = harness.fake.files[(int(answer["id"]), "nncf-ratings.csv")].decode()
    rows = list(csv.DictReader(io.StringIO(data)))
    assert {(r["movie_id"], r["stars"]) for r in rows} == {("1", "4.0"), (str(MATRIX), "3.5")}


async def test_forget_me_asks_first_and_only_its_owner_can_confirm(harness: BotHarness) -> None:
    user, other = harness.user("leaving"), harness.user("bystander")
    await harness.run("rate", user, movie="Toy Story", stars=4.0)
    record, prompt = await harness.run("forget-me", user)
    assert record.callback["type"] == 4  # no database work: answered at once
    yes, no = custom_ids(prompt)
    assert yes == f"nncf:forget:{user.id}:yes"
    _, refused = await harness.click(prompt, yes, other)
    assert "belongs to someone else" in refused["content"]
    _, cancelled = await harness.click(prompt, no, user)
    assert "nothing was deleted" in cancelled["content"]
    assert cancelled["components"] == []
    assert harness.stored_ratings(user) == {TOY_STORY: 4.0}
    _, prompt = await harness.run("forget-me", user)
    _, done = await harness.click(prompt, yes, user)
    assert "deleted your 1 rating(s)" in done["content"]
    assert harness.stored_ratings(user) == {}
