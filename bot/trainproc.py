"""The training child process: one job, in a fresh interpreter (``spawn``), no discord.py.

Training holds a CPU core for seconds to minutes and PyTorch's threads would
fight the event loop for the GIL-free parts as well as the GIL-bound ones; a
separate process keeps the bot's interactions answered while it runs, and a
crash or an out-of-memory kill of the trainer cannot take the bot down.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from types import FrameType

from nncf_core.logs import configure_logging

log = logging.getLogger(__name__)

INTERRUPTED_EXIT_CODE = 130


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    # retrain() records a KeyboardInterrupt as "interrupted" on the job before
    # passing it on, so a stopped bot leaves no job "running" behind.
    raise KeyboardInterrupt(f"signal {signum}")


def run_job(
    database_url: str,
    model_dir: str,
    job_id: int,
    trigger: str,
    log_level: str,
    keep_versions: int | None = None,
) -> None:
    """Run training job ``job_id`` (already claimed by the parent) to its end."""
    configure_logging(log_level)
    # First thing, before the seconds of importing PyTorch: a stop request during the
    # imports must also end the process through KeyboardInterrupt.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        from nncf_core.db.engine import Database
        from nncf_core.ml.retrain import retrain
    except KeyboardInterrupt:
        sys.exit(INTERRUPTED_EXIT_CODE)
    db = Database(database_url)
    try:
        result = retrain(
            db, Path(model_dir), trigger=trigger, job_id=job_id, keep_versions=keep_versions
        )
        log.info("training process for job #%d done: %s", job_id, result.status)
    except KeyboardInterrupt:
        log.warning("training job #%d interrupted", job_id)
        sys.exit(INTERRUPTED_EXIT_CODE)
    finally:
        db.dispose()
