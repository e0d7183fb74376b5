"""`nncf-bot worker`: a training process that serves the job queue."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import typer

from nncf_core.cli.common import echo, load_settings
from nncf_core.db.engine import Database
from nncf_core.db.migrate import ensure_current


def worker(
    poll: float = typer.Option(2.0, "--poll", help="Seconds between looks at an empty queue."),
    max_jobs: int | None = typer.Option(None, "--max-jobs", help="Exit after this many jobs."),
) -> None:
    """Run queued training jobs (set TRAINING_RUNNER=worker on the bot to use workers)."""
    from nncf_core.ml.worker import run_worker

    settings = load_settings()
    db = Database(settings.database_url)
    ensure_current(db.engine)
    stop = threading.Event()
    busy = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()
        # A job in progress is interrupted (and recorded as failed by retrain)
        # rather than left to the stale-heartbeat sweep.
        if busy.is_set():
            raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        count = run_worker(
            db,
            settings.model_dir,
            poll_s=poll,
            max_jobs=max_jobs,
            stop=stop,
            on_start=lambda _job_id: busy.set(),
            on_result=lambda result: (busy.clear(), echo(result.summary)),
            keep_versions=settings.model_keep_versions,
        )
    except KeyboardInterrupt:
        echo("worker stopped during a job; the job was recorded as interrupted")
        raise typer.Exit(130) from None
    finally:
        db.dispose()
    echo(f"worker stopped after {count} job(s)")


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
