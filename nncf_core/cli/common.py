"""What the CLI's commands share: settings, the core, and output helpers."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from pydantic import ValidationError

from nncf_core.app import Core
from nncf_core.errors import InvalidInput
from nncf_core.logs import configure_logging
from nncf_core.settings import Settings


def load_settings() -> Settings:
    try:
        settings = Settings()
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(p) for p in first["loc"]).upper()
        raise InvalidInput(f"Setting {field} is invalid: {first['msg']}.") from None
    configure_logging(settings.log_level)
    return settings


def open_core(check_schema: bool = True) -> Core:
    return Core(load_settings(), check_schema=check_schema)


def echo(text: str = "") -> None:
    typer.echo(text)


def echo_json(value: Any) -> None:
    json.dump(value, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")
