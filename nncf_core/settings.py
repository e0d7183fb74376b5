"""The one settings object, read from the environment and ``.env``.

Every field can be set by its upper-case name (``DATABASE_URL=...``).  Secrets
are ``SecretStr`` so that they never show up in ``repr``, logs or errors.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///data/nncf.sqlite3"


def _split_ids(value: object) -> object:
    """Accept ``"1,2, 3"`` as well as a list for the id-list settings."""
    if isinstance(value, str):
        return [int(part) for part in value.replace(";", ",").split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Configuration of the core, the CLI and the bot."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        case_sensitive=False,
    )

    database_url: str = DEFAULT_DATABASE_URL
    """SQLAlchemy URL of the database. SQLite by default (a file under ``./data/``);
    ``postgresql+psycopg://user@host/db`` for PostgreSQL."""

    model_dir: Path = Path("models")
    """Folder where trained model artifacts are written and read."""

    model_keep_versions: int | None = Field(default=10, ge=0)
    """After each training run, remove all model versions (row and artifact) but the active
    one and this many newest others; ``all`` keeps every version."""

    log_level: str = "INFO"
    """Logging level name (DEBUG, INFO, WARNING, ...)."""

    discord_token: SecretStr | None = None
    """The bot's token. Without one, ``make run`` starts the local console."""

    discord_api_base: str = "https://discord.com/api/v10"
    """REST base URL; point it at an HTTP proxy such as nirn-proxy, or at a test fake."""

    discord_gateway_url: str | None = None
    """Gateway websocket URL; empty means the one Discord announces."""

    discord_dev_guild_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    """Guilds that get the slash commands synced at every start (instant updates)."""

    admin_user_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    """Discord user ids allowed to run admin commands in any guild."""

    retrain_check_minutes: float = 30.0
    """How often the bot checks whether a retrain is due."""

    retrain_min_new_ratings: int = 500
    """Queue a retrain once this many ratings arrived since the active model was trained."""

    retrain_max_age_hours: float = 24.0
    """Queue a retrain when the active model is this old and any rating arrived since."""

    training_runner: Literal["inprocess", "worker"] = "inprocess"
    """``inprocess``: the bot starts a training subprocess itself; ``worker``: jobs are run
    by ``nncf-bot worker`` processes that share the database and MODEL_DIR."""

    shard_count: int | None = None
    """Total number of gateway shards; empty lets Discord choose (automatic sharding)."""

    shard_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    """Shards run by this process; empty means all of them."""

    @field_validator("discord_dev_guild_ids", "admin_user_ids", "shard_ids", mode="before")
    @classmethod
    def _parse_id_list(cls, value: object) -> object:
        return _split_ids(value)

    @field_validator("model_keep_versions", mode="before")
    @classmethod
    def _all_is_none(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() == "all":
            return None
        return value

    @field_validator("discord_token", mode="before")
    @classmethod
    def _empty_token_is_none(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests build their own ``Settings`` instead)."""
    return Settings()
