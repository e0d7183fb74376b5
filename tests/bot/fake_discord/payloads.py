"""JSON payloads shaped like Discord's (API v10), as much of them as discord.py reads."""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from datetime import UTC, datetime
from typing import Any

DISCORD_EPOCH_MS = 1_420_070_400_000

# Interaction types (Discord's numbering).
APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
AUTOCOMPLETE = 4

# Option types.
OPTION_STRING = 3
OPTION_INTEGER = 4
OPTION_NUMBER = 10

# Component types.
BUTTON = 2
STRING_SELECT = 3

# Permission bits.
MANAGE_GUILD = 1 << 5
DEFAULT_MEMBER_PERMISSIONS = (1 << 10) | (1 << 11) | (1 << 31)  # view, send, use app commands

EPHEMERAL = 1 << 6

_counter = itertools.count()
_lock = threading.Lock()


def snowflake() -> int:
    """A fresh, time-ordered id (so discord.py's ``created_at`` means something)."""
    with _lock:
        increment = next(_counter) & 0xFFF
    return ((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22) | (1 << 17) | increment


def iso_now() -> str:
    return datetime.now(UTC).isoformat()


def user(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": name,
        "global_name": name,
        "discriminator": "0",
        "avatar": None,
        "bot": bot,
        "public_flags": 0,
    }


def member(user_payload: dict[str, Any], permissions: int) -> dict[str, Any]:
    return {
        "user": user_payload,
        "nick": None,
        "roles": [],
        "joined_at": iso_now(),
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "permissions": str(permissions),
        "avatar": None,
        "communication_disabled_until": None,
    }


def text_channel(channel_id: int, guild_id: int, name: str = "general") -> dict[str, Any]:
    return {
        "id": str(channel_id),
        "type": 0,
        "guild_id": str(guild_id),
        "name": name,
        "position": 0,
        "permission_overwrites": [],
        "nsfw": False,
        "parent_id": None,
        "topic": None,
        "last_message_id": None,
        "rate_limit_per_user": 0,
    }


def guild(guild_id: int, channel_id: int, owner_id: int, name: str) -> dict[str, Any]:
    """A GUILD_CREATE payload for a small guild with one text channel."""
    return {
        "id": str(guild_id),
        "name": name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "owner_id": str(owner_id),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "roles": [
            {
                "id": str(guild_id),
                "name": "@everyone",
                "color": 0,
                "hoist": False,
                "position": 0,
                "permissions": str(DEFAULT_MEMBER_PERMISSIONS),
                "managed": False,
                "mentionable": False,
                "flags": 0,
            }
        ],
        "emojis": [],
        "stickers": [],
        "features": [],
        "mfa_level": 0,
        "application_id": None,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "vanity_url_code": None,
        "description": None,
        "banner": None,
        "premium_tier": 0,
        "preferred_locale": "en-US",
        "public_updates_channel_id": None,
        "nsfw_level": 0,
        "premium_progress_bar_enabled": False,
        "joined_at": iso_now(),
        "large": False,
        "unavailable": False,
        "member_count": 2,
        "voice_states": [],
        "members": [],
        "channels": [text_channel(channel_id, guild_id)],
        "threads": [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
    }


def message(
    *,
    message_id: int,
    channel_id: int,
    author: dict[str, Any],
    application_id: int,
    body: dict[str, Any],
    message_type: int = 20,
) -> dict[str, Any]:
    """A message as the API returns it, from a create/edit body the bot sent."""
    return {
        "id": str(message_id),
        "channel_id": str(channel_id),
        "type": message_type,
        "content": body.get("content") or "",
        "author": author,
        "embeds": body.get("embeds") or [],
        "attachments": body.get("attachments") or [],
        "components": body.get("components") or [],
        "flags": int(body.get("flags") or 0),
        "mentions": [],
        "mention_roles": [],
        "mention_everyone": False,
        "pinned": False,
        "tts": False,
        "timestamp": iso_now(),
        "edited_timestamp": None,
        "webhook_id": str(application_id),
        "application_id": str(application_id),
    }


def option(name: str, value: Any, *, focused: bool = False) -> dict[str, Any]:
    if isinstance(value, bool):
        raise TypeError("boolean options are not used by these tests")
    if isinstance(value, int):
        kind = OPTION_INTEGER
    elif isinstance(value, float):
        kind = OPTION_NUMBER
    else:
        kind = OPTION_STRING
    payload: dict[str, Any] = {"name": name, "type": kind, "value": value}
    if focused:
        payload["focused"] = True
    return payload


def interaction(
    *,
    kind: int,
    application_id: int,
    guild_id: int | None,
    channel: dict[str, Any],
    user_payload: dict[str, Any],
    permissions: int,
    data: dict[str, Any],
    message_payload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An INTERACTION_CREATE payload; guild interactions carry a member, DMs a user."""
    interaction_id = snowflake()
    payload: dict[str, Any] = {
        "id": str(interaction_id),
        "application_id": str(application_id),
        "type": kind,
        "data": data,
        "channel_id": channel["id"],
        "channel": channel,
        "token": f"itok-{interaction_id}-{secrets.token_urlsafe(24)}",
        "version": 1,
        "locale": "en-US",
        "app_permissions": str((1 << 53) - 1),
        "entitlements": [],
        "authorizing_integration_owners": {"0": str(guild_id) if guild_id else "0"},
        "context": 0 if guild_id is not None else 1,
        "attachment_size_limit": 10 * 1024 * 1024,
    }
    if guild_id is not None:
        payload["guild_id"] = str(guild_id)
        payload["guild_locale"] = "en-US"
        payload["member"] = member(user_payload, permissions)
    else:
        payload["user"] = user_payload
    if message_payload is not None:
        payload["message"] = message_payload
    return payload
