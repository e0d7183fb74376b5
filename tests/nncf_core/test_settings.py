"""Settings from the environment: the forms users write are read as they mean them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from nncf_core.settings import Settings


def read(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("value", "expected"), [("all", None), ("ALL", None), ("0", 0), ("3", 3), ("", 10)]
)
def test_model_keep_versions(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: int | None
) -> None:
    assert read(monkeypatch, MODEL_KEEP_VERSIONS=value).model_keep_versions == expected


@pytest.mark.parametrize("value", ["-1", "many"])
def test_model_keep_versions_refuses_nonsense(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    with pytest.raises(ValidationError, match="model_keep_versions"):
        read(monkeypatch, MODEL_KEEP_VERSIONS=value)


def test_id_lists_accept_commas(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = read(monkeypatch, ADMIN_USER_IDS="1, 2,3")
    assert settings.admin_user_ids == [1, 2, 3]
