"""Domain errors. Each carries its data and a message fit to show a user.

The CLI prints ``str(error)`` and exits non-zero; the bot's one error handler
turns them into a short ephemeral reply.
"""

from __future__ import annotations

from collections.abc import Sequence


class NNCFError(Exception):
    """Base of every error a user can cause or fix."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidInput(NNCFError):
    """A parameter is out of range or malformed."""


class InvalidStars(InvalidInput):
    def __init__(self, value: object) -> None:
        self.value = value
        super().__init__(
            f"Stars must be between 0.5 and 5.0 in half steps (0.5, 1.0, ... 5.0); got {value!r}."
        )


class UnknownMovie(NNCFError):
    def __init__(self, query: str, suggestions: Sequence[str] = ()) -> None:
        self.query = query
        self.suggestions = list(suggestions)
        hint = f" Did you mean: {'; '.join(self.suggestions)}?" if self.suggestions else ""
        super().__init__(f"No movie matches {_shorten(query)!r}.{hint}")


class AmbiguousMovie(NNCFError):
    def __init__(self, query: str, candidates: Sequence[str]) -> None:
        self.query = query
        self.candidates = list(candidates)
        shown = "; ".join(self.candidates[:5])
        super().__init__(
            f"{_shorten(query)!r} matches {len(self.candidates)} movies: {shown}. "
            "Add the year, e.g. 'Title (1999)', or pick one from the list."
        )


class UnknownUser(NNCFError):
    def __init__(self, spec: str) -> None:
        self.spec = spec
        super().__init__(f"No user {_shorten(spec)!r}.")


class NotRated(NNCFError):
    def __init__(self, title: str) -> None:
        self.title = title
        super().__init__(f"You have not rated {title}.")


class DatabaseBehind(NNCFError):
    def __init__(self, current: str | None, head: str) -> None:
        self.current = current
        self.head = head
        super().__init__(
            f"The database schema is at revision {current or 'none (empty database)'} but this "
            f"version needs {head}. Run `nncf-bot db upgrade` first."
        )


class DatabaseBusy(NNCFError):
    def __init__(self) -> None:
        super().__init__("The database is busy right now; nothing was changed. Try again.")


class NoActiveModel(NNCFError):
    def __init__(self) -> None:
        super().__init__("No model has been trained yet. Run `nncf-bot train` (or /retrain).")


class ArtifactError(NNCFError):
    """A model artifact is missing, truncated, tampered with or incompatible."""


class NotInModel(NNCFError):
    """A movie the active model has no embedding for (too new, or too few ratings)."""

    def __init__(self, label: str) -> None:
        self.label = label
        super().__init__(
            f"The model does not know {label} yet (it had no ratings when the model was "
            "trained); try again after the next retrain."
        )


class UnknownModelVersion(NNCFError):
    def __init__(self, version_id: int) -> None:
        self.version_id = version_id
        super().__init__(
            f"There is no model version {version_id}. `nncf-bot models list` shows them."
        )


class JobAlreadyQueued(NNCFError):
    def __init__(self, job_id: int, status: str) -> None:
        self.job_id = job_id
        self.status = status
        super().__init__(f"Training job #{job_id} is already {status}; nothing new was queued.")


class TrainingCancelled(NNCFError):
    """A training run was asked to stop; nothing was produced."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch
        super().__init__(f"Training was cancelled after {epoch} epochs; no model was saved.")


class ImportFailed(NNCFError):
    """An import was refused; nothing was written."""


class ImportFileError(ImportFailed):
    """An import file is missing or malformed (``line`` is 1-based, None for the whole file)."""

    def __init__(self, path: str, problem: str, line: int | None = None) -> None:
        self.path = path
        self.problem = problem
        self.line = line
        where = f"{path}, line {line}" if line is not None else path
        super().__init__(f"{where}: {problem}. Nothing was imported.")


class DownloadFailed(ImportFailed):
    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(
            f"Could not download {url}: {reason}. Download and unzip it by hand, then run "
            "`nncf-bot import movielens DIR`."
        )


class PermissionDenied(NNCFError):
    pass


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
