"""The bot process SIGKILLed in the middle of a stream of /rate: nothing it confirmed is lost.

The bot answers "Rated ..." only after the rating's transaction committed, so every
confirmation the (fake) Discord received must be in the database when it is reopened,
whatever the bot was doing when it died.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from nncf_core.db.engine import Database
from nncf_core.services.catalog import MovieCatalog
from nncf_core.services.ratings import RatingService
from nncf_core.services.users import UserKey
from tests.bot.data import BotData
from tests.bot.fake_discord import FakeDiscord, FakeUser, Interaction
from tests.bot.harness import bot_env

log = logging.getLogger(__name__)

NNCF_BOT = Path(sys.executable).with_name("nncf-bot")
STREAM = 400
"""Upper bound on the ratings sent; the bot is killed long before they are all answered."""
KILL_AFTER = 25
"""Confirmations seen before the kill."""


@dataclass(frozen=True)
class Sent:
    user: FakeUser
    movie_id: int
    stars: float
    record: Interaction


def confirmed(fake: FakeDiscord, sent: Sent) -> bool:
    """Whether the user was shown the "Rated ..." confirmation."""
    message = fake.messages.get(sent.record.original_id or -1)
    return (
        sent.record.settled_at is not None
        and message is not None
        and message["content"].startswith("Rated ")
        and f"{sent.stars:g} stars" in message["content"]
    )


async def _stream(fake: FakeDiscord, movie_ids: tuple[int, ...], sent: list[Sent]) -> None:
    # One rating per user: the per-user /rate cooldown never gets in the way.
    for i in range(STREAM):
        user = fake.make_user(f"stream-{i}")
        movie_id = movie_ids[i % len(movie_ids)]
        stars = 0.5 + (i % 10) / 2
        record = await fake.slash("rate", user, movie=str(movie_id), stars=stars)
        sent.append(Sent(user, movie_id, stars, record))
        await asyncio.sleep(0.001)


async def test_sigkill_mid_stream_loses_no_confirmed_rating(
    bot_data: BotData, tmp_path: Path
) -> None:
    url, model_dir = bot_data.copy_to(tmp_path)
    fake = FakeDiscord()
    await fake.start()
    log_path = tmp_path / "bot.log"
    with log_path.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            str(NNCF_BOT),
            "run",
            env=bot_env(fake, url, model_dir, LOG_LEVEL="WARNING"),
            cwd=tmp_path,
            stdout=log_file,
            stderr=asyncio.subprocess.STDOUT,
        )
    sent: list[Sent] = []
    streamer: asyncio.Task[None] | None = None
    try:
        await fake.wait_connected(timeout=90)
        streamer = asyncio.create_task(_stream(fake, bot_data.movie_ids, sent))
        await fake.wait_for(
            lambda: sum(confirmed(fake, s) for s in sent) >= KILL_AFTER or streamer.done(),
            timeout=60,
        )
        process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(process.wait(), 30)
        streamer.cancel()
        # The stream may already have failed on the dead bot's closing gateway socket.
        with contextlib.suppress(asyncio.CancelledError, ConnectionResetError):
            await streamer
        # Whatever reached the fake before the process died counts.
        await asyncio.sleep(0.1)
    finally:
        if streamer is not None:
            streamer.cancel()
        if process.returncode is None:
            process.kill()
            await process.wait()
        await fake.close()
    assert process.returncode == -signal.SIGKILL, log_path.read_text()[-2000:]
    done = [s for s in sent if confirmed(fake, s)]
    log.info("sent %d ratings, %d confirmed before the kill", len(sent), len(done))
    assert len(done) >= KILL_AFTER, log_path.read_text()[-2000:]
    assert len(done) < len(sent), "the kill came after the stream ended: nothing was in flight"

    db = Database(url)
    try:
        ratings = RatingService(db, MovieCatalog(db))
        stored = {s.user.id: ratings.user_ratings(UserKey.discord(s.user.id)) for s in sent}
    finally:
        db.dispose()
    lost = [s for s in done if stored[s.user.id] != {s.movie_id: s.stars}]
    assert not lost, f"{len(lost)} confirmed rating(s) missing, e.g. {lost[0]}"
    # Unconfirmed ones may or may not have committed, but never as anything else.
    for s in sent:
        assert stored[s.user.id] in ({}, {s.movie_id: s.stars})
