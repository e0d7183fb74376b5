"""Load benchmark: many Discord users rating and asking for recommendations while a
retrain runs, through the fake Discord of the test suite.

The bot runs as a real ``nncf-bot run`` process (its own event loop, its own
training child process), pointed at the fake with DISCORD_API_BASE and
DISCORD_GATEWAY_URL; this process runs the fake and the simulated users. A
training job is queued when the load starts, so that most of the load meets a
running training.

Each simulated user: a few rounds of autocomplete + /rate (distinct movies),
/recommend, then rating one recommended movie through the menu and a star
button. Reported: interactions per second, time to acknowledge (the interaction
callback reaching Discord) p50/p99/max, overall and while training ran, the
time until /recommend's answer is complete, deadline misses (Discord refuses
callbacks after 3 s), and ratings sent vs ratings stored.

    .venv/bin/python benchmarks/load.py --users 50
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from nncf_core.db.engine import Database  # noqa: E402
from nncf_core.db.models import Rating, User  # noqa: E402
from nncf_core.ml import jobs  # noqa: E402
from nncf_core.ml.config import ModelConfig, TrainConfig  # noqa: E402
from tests.bot.data import TINY_TRAIN, build  # noqa: E402
from tests.bot.fake_discord import FakeDiscord, FakeUser, Interaction, find_component  # noqa: E402
from tests.bot.harness import bot_env  # noqa: E402

MOVIELENS = ROOT.parent / "shared" / "data" / "ml-latest-small"
NNCF_BOT = Path(sys.executable).with_name("nncf-bot")

LOAD_TRAIN = TrainConfig(
    model=ModelConfig(emb_size=64, n_hidden=10, dropout=0.1),
    epochs=6,
    patience=6,
    batch_size=4096,
    device="cpu",
    backend="torch",
)
"""A retrain that lasts a good part of the run on ml-latest-small."""


@dataclass
class Sample:
    kind: str
    record: Interaction


@dataclass
class Results:
    samples: list[Sample] = field(default_factory=list)
    ratings_sent: int = 0
    errors: list[str] = field(default_factory=list)


async def simulate_user(
    fake: FakeDiscord, user: FakeUser, movies: list[int], rounds: int, results: Results
) -> None:
    rng = random.Random(user.id)
    picks = rng.sample(movies, rounds * 4)

    async def run(kind: str, record: Interaction) -> dict:
        results.samples.append(Sample(kind, record))
        return await fake.answer(record, timeout=60)

    for round_number in range(rounds):
        for movie in picks[round_number * 4 : round_number * 4 + 4]:
            await asyncio.sleep(rng.uniform(0.0, 0.3))
            await run("autocomplete", await fake.autocomplete("rate", user, "movie", movie="the"))
            answer = await run(
                "rate",
                await fake.slash("rate", user, movie=str(movie), stars=rng.choice([3.0, 4.5])),
            )
            if "Rated" in answer["content"] or "was" in answer["content"]:
                results.ratings_sent += 1
            else:
                results.errors.append(answer["content"][:120])
        await asyncio.sleep(rng.uniform(0.0, 0.5))
        recommended = await run("recommend", await fake.slash("recommend", user, count=10))
        select = find_component(recommended, "nncf:pick:recs")
        if select is None:
            results.errors.append(f"no menu: {recommended.get('content')!r}")
            continue
        movie = select["options"][0]["value"]
        panel = await run(
            "menu", await fake.click(recommended, "nncf:pick:recs", user, values=[movie])
        )
        rated = await run("star", await fake.click(panel, f"nncf:rate:{movie}:8", user))
        if "Rated" in rated["content"]:
            results.ratings_sent += 1
        else:
            results.errors.append(rated["content"][:120])


def _training(job: object) -> bool:
    started = getattr(job, "started_at", None)
    beat = getattr(job, "heartbeat_at", None)
    if getattr(job, "status", None) != "running" or started is None or beat is None:
        return getattr(job, "status", None) in jobs.FINAL_STATUSES
    return beat > started


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def stored_ratings(db: Database, user_ids: list[int]) -> int:
    with db.session() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Rating)
                .join(User, User.id == Rating.user_id)
                .where(User.discord_id.in_(user_ids))
            )
            or 0
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2, help="rate x4 + recommend, per round")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="nncf-load-"))
    print(f"building data in {folder} (ml-latest-small, first model) ...", flush=True)
    data = build(MOVIELENS, folder / "data", n_movies=None, train_config=TINY_TRAIN)
    url, model_dir = f"sqlite:///{data.database}", data.model_dir
    db = Database(url)
    fake = FakeDiscord()
    await fake.start()
    env = bot_env(
        fake, url, model_dir, DISCORD_DEV_GUILD_IDS=str(fake.guild_id), LOG_LEVEL="WARNING"
    )
    log_path = folder / "bot.log"
    with log_path.open("wb") as log:
        bot = await asyncio.create_subprocess_exec(
            str(NNCF_BOT), "run", env=env, cwd=folder, stdout=log, stderr=log
        )
        try:
            await fake.wait_connected(timeout=120)
            await fake.wait_for(lambda: fake.sync_calls, timeout=60)
            await asyncio.sleep(1.0)  # let the first model finish loading
            users = [fake.make_user(f"load-{i}") for i in range(args.users)]
            job = jobs.enqueue(db, "admin", "benchmark", config=LOAD_TRAIN.as_dict())
            # The bot notices the queued job within its 5-second watch interval; its
            # first heartbeat after starting comes at the end of the first epoch, so
            # from then on the load meets training at full speed (not imports).
            while not _training(jobs.get_job(db, job.id)):
                await asyncio.sleep(0.2)
            results = Results()
            # The simulation's heap (torch, the data build) is large: keep the collector
            # from pausing this process mid-measurement, which would look like bot latency.
            gc.collect()
            gc.freeze()
            started = time.monotonic()
            await asyncio.gather(
                *(simulate_user(fake, u, list(data.movie_ids), args.rounds, results) for u in users)
            )
            wall = time.monotonic() - started
            finished = jobs.get_job(db, job.id)
            stored = stored_ratings(db, [u.id for u in users])
        finally:
            bot.send_signal(signal.SIGTERM)
            await asyncio.wait_for(bot.wait(), 60)
            await fake.close()
    report(results, wall, finished, stored, args, started)
    print(f"bot log: {log_path}")
    db.dispose()


def report(
    results: Results, wall: float, job: object, stored: int, args: object, t0: float
) -> None:
    samples = results.samples
    acked = [s for s in samples if s.record.ack_seconds is not None]
    missed = [s for s in samples if s.record.callback is None or s.record.late_callbacks]
    acks = [s.record.ack_seconds * 1000 for s in acked]  # type: ignore[operator]
    training = _training_window(job, t0)
    during = [
        s.record.ack_seconds * 1000  # type: ignore[operator]
        for s in acked
        if training and training[0] <= s.record.sent_at - t0 <= training[1]
    ]
    recommend = [
        (s.record.settled_at - s.record.sent_at) * 1000
        for s in samples
        if s.kind == "recommend" and s.record.settled_at is not None
    ]
    rows = [
        ("simulated users", f"{args.users}"),  # type: ignore[attr-defined]
        ("interactions", f"{len(samples)}"),
        ("wall time", f"{wall:.1f} s"),
        ("interactions / s", f"{len(samples) / wall:.1f}"),
        ("ack p50", f"{percentile(acks, 50):.0f} ms"),
        ("ack p99", f"{percentile(acks, 99):.0f} ms"),
        ("ack max", f"{max(acks):.0f} ms" if acks else "n/a"),
        ("ack p99 while training", f"{percentile(during, 99):.0f} ms ({len(during)} interactions)"),
        ("/recommend complete p50", f"{percentile(recommend, 50):.0f} ms"),
        ("/recommend complete p99", f"{percentile(recommend, 99):.0f} ms"),
        ("slowest 1% sent at", _slowest_times(acked, t0)),
        ("missed 3 s deadline", f"{len(missed)}"),
        ("ratings sent", f"{results.ratings_sent}"),
        ("ratings stored", f"{stored}"),
        ("training job", _describe_job(job, training)),
    ]
    width = max(len(name) for name, _ in rows)
    print()
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")
    by_kind: dict[str, list[float]] = {}
    for s in acked:
        by_kind.setdefault(s.kind, []).append(s.record.ack_seconds * 1000)  # type: ignore[operator]
    print()
    print(f"{'kind'.ljust(14)}{'count':>7}{'ack p50 ms':>12}{'ack p99 ms':>12}")
    for kind, values in sorted(by_kind.items()):
        print(
            f"{kind.ljust(14)}{len(values):>7}{statistics.median(values):>12.0f}"
            f"{percentile(values, 99):>12.0f}"
        )
    if results.errors:
        print(f"\n{len(results.errors)} unexpected answers, e.g. {results.errors[:3]}")


def _slowest_times(acked: list[Sample], t0: float) -> str:
    """When the slowest acknowledgements were sent: a burst shows as one narrow window."""
    slowest = sorted(acked, key=lambda s: s.record.ack_seconds or 0.0)[-max(1, len(acked) // 100) :]
    times = sorted(s.record.sent_at - t0 for s in slowest)
    return f"t = {times[0]:.1f} .. {times[-1]:.1f} s" if times else "n/a"


def _training_window(job: object, t0: float) -> tuple[float, float] | None:
    started = getattr(job, "started_at", None)
    finished = getattr(job, "finished_at", None)
    if started is None:
        return None
    # Database times are wall-clock; samples are monotonic: convert via "now".
    offset = time.time() - time.monotonic()
    start = started.timestamp() - offset - t0
    end = (finished.timestamp() - offset - t0) if finished else float("inf")
    return start, end


def _describe_job(job: object, window: tuple[float, float] | None) -> str:
    status = getattr(job, "status", "?")
    if window is None:
        return f"{status} (never started)"
    end = "still running at the end" if window[1] == float("inf") else f"to {window[1]:.1f} s"
    return f"{status}, ran from {window[0]:.1f} s {end}"


if __name__ == "__main__":
    asyncio.run(main())
