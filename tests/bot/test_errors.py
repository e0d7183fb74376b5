"""The one error handler: friendly domain errors, referenced unexpected ones."""

from __future__ import annotations

import logging
import re

import pytest
from discord import app_commands

from bot.errors import describe
from nncf_core.errors import DatabaseBusy, InvalidStars
from tests.bot.fake_discord.payloads import EPHEMERAL
from tests.bot.harness import BotHarness

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_describe_domain_errors_and_wrapped_ones() -> None:
    assert describe(DatabaseBusy()) == (str(DatabaseBusy()), None)
    wrapped = app_commands.CommandInvokeError.__new__(app_commands.CommandInvokeError)
    wrapped.original = InvalidStars(4.3)
    assert describe(wrapped)[0].startswith("Stars must be between 0.5 and 5.0")
    message, ref = describe(ZeroDivisionError("x"))
    assert ref is not None and re.fullmatch(r"[0-9A-F]{6}", ref)
    assert message.startswith("Something went wrong (ref {ref})")


async def test_an_unexpected_error_gets_a_reference_that_is_in_the_log(
    harness: BotHarness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(harness.core.ratings, "list_ratings", broken)
    with caplog.at_level(logging.ERROR, logger="bot.errors"):
        _, answer = await harness.run("ratings", harness.user("unlucky"))
    match = re.fullmatch(
        r"Something went wrong \(ref ([0-9A-F]{6})\)\. It has been logged\.", answer["content"]
    )
    assert match, answer["content"]
    assert "secret" not in answer["content"]
    (record,) = [r for r in caplog.records if match.group(1) in r.getMessage()]
    assert record.exc_info and "secret internal detail" in str(record.exc_info[1])
    assert "/ratings" in record.getMessage()


async def test_a_failing_button_explains_below_the_message_and_leaves_it(
    harness: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = harness.user("button-masher")
    _, panel = await harness.run("movie", user, title="Toy Story")

    def busy(*_args: object, **_kwargs: object) -> None:
        raise DatabaseBusy()

    monkeypatch.setattr(harness.core.ratings, "rate", busy)
    record = await harness.fake.click(panel, "nncf:rate:1:8", user)
    (followup,) = await harness.fake.followups(record, 1)
    assert followup["content"] == str(DatabaseBusy())
    assert followup["flags"] & EPHEMERAL
    assert harness.fake.messages[int(panel["id"])]["embeds"] == panel["embeds"]


async def test_a_forged_custom_id_is_validated_like_typed_input(harness: BotHarness) -> None:
    user = harness.user("forger")
    _, panel = await harness.run("movie", user, title="Toy Story")
    # A client could send any custom_id matching the template: 11 half stars = 5.5.
    panel["components"][0]["components"][0]["custom_id"] = "nncf:rate:1:11"
    record = await harness.fake.click(panel, "nncf:rate:1:11", user)
    (followup,) = await harness.fake.followups(record, 1)
    assert "half steps" in followup["content"]
    assert harness.stored_ratings(user) == {}


async def test_an_unknown_command_is_answered(harness: BotHarness) -> None:
    _, answer = await harness.run("does-not-exist", harness.user("time-traveller"))
    assert "changed since Discord last loaded it" in answer["content"]
