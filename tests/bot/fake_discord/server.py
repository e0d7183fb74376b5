"""A fake Discord on loopback: the REST routes discord.py calls and a gateway websocket.

The real discord.py client logs in over REST (``DISCORD_API_BASE`` pointed here),
connects to the gateway (``DISCORD_GATEWAY_URL``), and then receives the
INTERACTION_CREATE events that a test injects. Everything the bot sends back
(interaction callbacks, webhook follow-ups and edits, command syncs, DMs) is
recorded, so that tests assert on the bodies Discord would have received.

Message state follows Discord's rules closely enough for the bot: a callback of
type 4 creates the response message, type 5 creates a "thinking" message that
the first PATCH ``@original`` (or the first follow-up) fills in, types 6 and 7
make the clicked message the original, and PATCH edits it.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.bot.fake_discord import payloads as p

log = logging.getLogger(__name__)

LOADING = 1 << 7
ACK_DEADLINE_S = 3.0
"""Discord refuses an interaction callback that comes later than this (10062)."""
FINAL_CALLBACKS = {4, 7, 8, 9}
DEFERRED_CALLBACKS = {5, 6}


@dataclass(frozen=True)
class FakeUser:
    id: int
    name: str
    permissions: int = p.DEFAULT_MEMBER_PERMISSIONS

    @property
    def payload(self) -> dict[str, Any]:
        return p.user(self.id, self.name)


@dataclass
class Call:
    """One REST request the bot made."""

    method: str
    path: str
    body: Any
    files: dict[str, bytes]
    at: float
    status: int = 200


@dataclass
class Interaction:
    """An interaction the fake sent, and everything the bot answered to it."""

    payload: dict[str, Any]
    sent_at: float
    callback: dict[str, Any] | None = None
    callback_at: float | None = None
    calls: list[Call] = field(default_factory=list)
    original_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)
    settled_at: float | None = None
    """When the user saw a final answer (a non-deferred callback or the deferred one filled)."""
    late_callbacks: int = 0
    """Callbacks refused because they came after the 3-second deadline."""
    shard_id: int | None = None
    """The shard whose gateway connection delivered the interaction."""

    @property
    def id(self) -> int:
        return int(self.payload["id"])

    @property
    def token(self) -> str:
        return str(self.payload["token"])

    @property
    def callback_type(self) -> int | None:
        return None if self.callback is None else int(self.callback["type"])

    @property
    def ack_seconds(self) -> float | None:
        return None if self.callback_at is None else self.callback_at - self.sent_at


class DiscordError(Exception):
    """Answered as a JSON error body, the way Discord sends them."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"code": code, "message": message}


class FakeDiscord:
    def __init__(
        self,
        *,
        token: str = "fake-bot-token",
        application_id: int | None = None,
        guild_ids: tuple[int, ...] | None = None,
        owner: FakeUser | None = None,
        ack_deadline_s: float = ACK_DEADLINE_S,
    ) -> None:
        self.token = token
        self.ack_deadline_s = ack_deadline_s
        self.application_id = application_id or p.snowflake()
        self.bot_user = p.user(self.application_id, "nncf-test-bot", bot=True)
        self.owner = owner or FakeUser(p.snowflake(), "owner")
        self.guild_ids = guild_ids or (p.snowflake(),)
        self.channel_ids = {guild_id: p.snowflake() for guild_id in self.guild_ids}
        self.dm_channels: dict[int, int] = {}
        self.calls: list[Call] = []
        self.interactions: dict[int, Interaction] = {}
        self.by_token: dict[str, Interaction] = {}
        self.messages: dict[int, dict[str, Any]] = {}
        self.files: dict[tuple[int, str], bytes] = {}
        self.channel_messages: list[dict[str, Any]] = []
        self.commands: dict[int | None, list[dict[str, Any]]] = {}
        self.sync_calls: list[int | None] = []
        self.identify_payloads: list[dict[str, Any]] = []
        self.fail_next: dict[str, int] = {}
        self._sessions: list[_GatewaySession] = []
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ----------------------------------------------------------------- lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/api/v10/{path:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.host = host

    async def close(self) -> None:
        for session in list(self._sessions):
            await session.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_base(self) -> str:
        return f"http://{self.host}:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://{self.host}:{self.port}/gateway"

    @property
    def guild_id(self) -> int:
        return self.guild_ids[0]

    async def wait_connected(self, timeout: float = 15.0) -> None:
        await self.wait_for(lambda: any(s.ready for s in self._sessions), timeout)

    @property
    def ready_shards(self) -> list[int]:
        """The shard ids of the open gateway connections that identified, sorted (one
        entry per connection, so a shard connected twice shows twice)."""
        return sorted(s.shard_id for s in self._sessions if s.ready)

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Wait until ``predicate()`` is truthy (re-checked on every recorded change)."""
        async with self._changed:
            result = await asyncio.wait_for(self._changed.wait_for(predicate), timeout)
        return result

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # --------------------------------------------------------------- interactions

    def make_user(self, name: str, *, admin: bool = False) -> FakeUser:
        permissions = p.DEFAULT_MEMBER_PERMISSIONS | (p.MANAGE_GUILD if admin else 0)
        return FakeUser(p.snowflake(), name, permissions)

    async def send_interaction(
        self,
        kind: int,
        data: dict[str, Any],
        user: FakeUser,
        *,
        guild_id: int | None = -1,
        message: dict[str, Any] | None = None,
    ) -> Interaction:
        gid = self.guild_id if guild_id == -1 else guild_id
        if gid is None:
            channel_id = self.dm_channels.setdefault(user.id, p.snowflake())
            channel = {"id": str(channel_id), "type": 1, "recipients": [user.payload]}
        else:
            channel = p.text_channel(self.channel_ids[gid], gid)
        payload = p.interaction(
            kind=kind,
            application_id=self.application_id,
            guild_id=gid,
            channel=channel,
            user_payload=user.payload,
            permissions=user.permissions,
            data=data,
            message_payload=message,
        )
        record = Interaction(payload=payload, sent_at=time.monotonic())
        self.interactions[record.id] = record
        self.by_token[record.token] = record
        record.shard_id = await self.dispatch("INTERACTION_CREATE", payload, guild_id=gid)
        return record

    async def slash(
        self, name: str, user: FakeUser, *, guild_id: int | None = -1, **options: Any
    ) -> Interaction:
        """A slash command, like a user pressing enter on ``/name option:value``."""
        data: dict[str, Any] = {
            "id": str(self._command_id(name)),
            "name": name,
            "type": 1,
            "options": [p.option(k, v) for k, v in options.items() if v is not None],
        }
        return await self.send_interaction(p.APPLICATION_COMMAND, data, user, guild_id=guild_id)

    async def autocomplete(
        self, name: str, user: FakeUser, focused: str, **options: Any
    ) -> Interaction:
        data: dict[str, Any] = {
            "id": str(self._command_id(name)),
            "name": name,
            "type": 1,
            "options": [p.option(k, v, focused=(k == focused)) for k, v in options.items()],
        }
        return await self.send_interaction(p.AUTOCOMPLETE, data, user)

    async def click(
        self,
        message: dict[str, Any],
        custom_id: str,
        user: FakeUser,
        *,
        values: list[str] | None = None,
    ) -> Interaction:
        """Click a button (or choose ``values`` in a select) of a message the bot sent."""
        component = find_component(message, custom_id)
        if component is None:
            raise AssertionError(f"no component {custom_id!r} in message {message.get('id')}")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component["type"]}
        if values is not None:
            data["values"] = values
        guild_id = int(message["guild_id"]) if message.get("guild_id") else -1
        return await self.send_interaction(
            p.MESSAGE_COMPONENT, data, user, guild_id=guild_id, message=message
        )

    def _command_id(self, name: str) -> int:
        for commands in self.commands.values():
            for command in commands:
                if command["name"] == name:
                    return int(command["id"])
        return p.snowflake()

    async def acked(self, record: Interaction, timeout: float = 10.0) -> dict[str, Any]:
        """The interaction callback body, once the bot sent it."""
        await self.wait_for(lambda: record.callback is not None, timeout)
        assert record.callback is not None
        return record.callback

    async def answer(self, record: Interaction, timeout: float = 10.0) -> dict[str, Any]:
        """What the user finally sees: the response message (after any deferral), or for
        autocomplete the callback data."""
        await self.wait_for(lambda: record.settled_at is not None, timeout)
        if record.callback_type == 8:
            return copy.deepcopy(record.callback["data"])  # type: ignore[index]
        assert record.original_id is not None
        # A snapshot, as the user saw it: later edits do not change it.
        return copy.deepcopy(self.messages[record.original_id])

    async def followups(
        self, record: Interaction, count: int = 1, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Follow-up messages beyond the first answer (e.g. a training report)."""
        await self.wait_for(lambda: len(record.followup_ids) >= count, timeout)
        return [copy.deepcopy(self.messages[i]) for i in record.followup_ids]

    # ------------------------------------------------------------------- gateway

    async def dispatch(self, event: str, data: dict[str, Any], *, guild_id: int | None) -> int:
        """Send an event on the connection of the shard that owns ``guild_id``; its shard id."""
        if not any(s.ready for s in self._sessions):
            await self.wait_connected()
        session = self._session_for(guild_id)
        await session.send(0, data, event)
        return session.shard_id

    def _session_for(self, guild_id: int | None) -> _GatewaySession:
        ready = [s for s in self._sessions if s.ready]
        for session in ready:
            if guild_id is None and session.shard_id == 0:
                return session
            if guild_id is not None and session.owns(guild_id):
                return session
        return ready[0]

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        session = _GatewaySession(self, ws)
        self._sessions.append(session)
        try:
            await session.send(10, {"heartbeat_interval": 41_250})
            async for frame in ws:
                if frame.type != WSMsgType.TEXT:
                    continue
                await session.received(json.loads(frame.data))
        finally:
            self._sessions.remove(session)
        return ws

    # ---------------------------------------------------------------------- REST

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["path"]
        body, files = await _read_body(request)
        call = Call(request.method, path, body, files, time.monotonic())
        self.calls.append(call)
        try:
            for method, pattern, handler in self._routes():
                if method != request.method:
                    continue
                match = pattern.fullmatch(path)
                if match is None:
                    continue
                if handler.__name__ not in _UNAUTHENTICATED and not self._authorized(request):
                    raise DiscordError(401, 0, "401: Unauthorized")
                failure = self.fail_next.get(handler.__name__, 0)
                if failure:
                    self.fail_next[handler.__name__] = failure - 1
                    raise DiscordError(500, 0, "injected failure")
                result = await handler(call, request, **match.groupdict())
                if result is None:
                    return web.Response(status=204)
                return _json(result)
            raise DiscordError(404, 0, f"404: Not Found ({request.method} {path})")
        except DiscordError as error:
            call.status = error.status
            return _json(error.body, error.status)
        finally:
            await self._notify()

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bot {self.token}"

    def _routes(self) -> list[tuple[str, re.Pattern[str], Any]]:
        return [
            ("GET", re.compile(r"/users/@me"), self._get_me),
            ("GET", re.compile(r"/oauth2/applications/@me"), self._get_application),
            ("GET", re.compile(r"/applications/@me"), self._get_application),
            ("GET", re.compile(r"/gateway(/bot)?"), self._get_gateway),
            ("PUT", re.compile(r"/applications/(?P<app>\d+)/commands"), self._put_commands),
            (
                "PUT",
                re.compile(r"/applications/(?P<app>\d+)/guilds/(?P<guild>\d+)/commands"),
                self._put_commands,
            ),
            ("GET", re.compile(r"/applications/(?P<app>\d+)/commands"), self._get_commands),
            (
                "GET",
                re.compile(r"/applications/(?P<app>\d+)/guilds/(?P<guild>\d+)/commands"),
                self._get_commands,
            ),
            (
                "POST",
                re.compile(r"/interactions/(?P<iid>\d+)/(?P<token>[^/]+)/callback"),
                self._callback,
            ),
            ("POST", re.compile(r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)"), self._followup),
            (
                "PATCH",
                re.compile(
                    r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)/messages/(?P<mid>@original|\d+)"
                ),
                self._edit,
            ),
            (
                "GET",
                re.compile(
                    r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)/messages/(?P<mid>@original|\d+)"
                ),
                self._get_webhook_message,
            ),
            (
                "DELETE",
                re.compile(
                    r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)/messages/(?P<mid>@original|\d+)"
                ),
                self._delete_webhook_message,
            ),
            ("POST", re.compile(r"/users/@me/channels"), self._open_dm),
            ("POST", re.compile(r"/channels/(?P<channel>\d+)/messages"), self._channel_message),
        ]

    async def _get_me(self, call: Call, request: web.Request) -> Any:
        return {**self.bot_user, "verified": True, "mfa_enabled": False, "flags": 0}

    async def _get_application(self, call: Call, request: web.Request) -> Any:
        return {
            "id": str(self.application_id),
            "name": "nncf-test",
            "icon": None,
            "description": "fake application",
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": self.owner.payload,
            "verify_key": "0" * 64,
            "flags": 0,
            "bot": self.bot_user,
            "interactions_endpoint_url": None,
        }

    async def _get_gateway(self, call: Call, request: web.Request) -> Any:
        return {
            "url": self.gateway_url,
            "shards": 1,
            "session_start_limit": {
                "total": 1000,
                "remaining": 999,
                "reset_after": 0,
                "max_concurrency": 1,
            },
        }

    async def _put_commands(
        self, call: Call, request: web.Request, app: str, guild: str | None = None
    ) -> Any:
        guild_id = int(guild) if guild else None
        stored = []
        for command in call.body or []:
            stored.append(
                {
                    "id": str(p.snowflake()),
                    "application_id": app,
                    "version": str(p.snowflake()),
                    "type": 1,
                    "description": "",
                    "options": [],
                    **command,
                    **({"guild_id": str(guild_id)} if guild_id else {}),
                }
            )
        self.commands[guild_id] = stored
        self.sync_calls.append(guild_id)
        return stored

    async def _get_commands(
        self, call: Call, request: web.Request, app: str, guild: str | None = None
    ) -> Any:
        return self.commands.get(int(guild) if guild else None, [])

    def _record(self, token: str) -> Interaction:
        record = self.by_token.get(token)
        if record is None:
            raise DiscordError(404, 10015, "Unknown Webhook")
        return record

    def _new_message(self, record: Interaction, body: dict[str, Any]) -> dict[str, Any]:
        message_id = p.snowflake()
        payload = p.message(
            message_id=message_id,
            channel_id=int(record.payload["channel_id"]),
            author=self.bot_user,
            application_id=self.application_id,
            body=body,
        )
        if record.payload.get("guild_id"):
            payload["guild_id"] = record.payload["guild_id"]
        payload["interaction_metadata"] = {
            "id": record.payload["id"],
            "type": record.payload["type"],
            "user": (record.payload.get("member") or record.payload)["user"],
            "authorizing_integration_owners": {},
        }
        self.messages[message_id] = payload
        return payload

    def _update_message(self, message_id: int, body: dict[str, Any], call: Call) -> dict[str, Any]:
        message = self.messages[message_id]
        for key in ("content", "embeds", "components"):
            if key in body:
                message[key] = (
                    body[key] if body[key] is not None else ([] if key != "content" else "")
                )
        if "attachments" in body:
            kept = {str(a.get("id")) for a in body["attachments"] or []}
            old = [a for a in message.get("attachments", []) if str(a["id"]) in kept]
            message["attachments"] = old + self._store_files(message_id, body, call)
        if "flags" in body and body["flags"] is not None:
            message["flags"] = int(body["flags"]) | (message["flags"] & p.EPHEMERAL)
        message["flags"] &= ~LOADING
        message["edited_timestamp"] = p.iso_now()
        return message

    def _store_files(
        self, message_id: int, body: dict[str, Any], call: Call
    ) -> list[dict[str, Any]]:
        stored = []
        for index, attachment in enumerate(body.get("attachments") or []):
            key = f"files[{attachment.get('id', index)}]"
            if key not in call.files:
                continue
            data = call.files[key]
            filename = attachment.get("filename") or f"file{index}"
            self.files[(message_id, filename)] = data
            stored.append(
                {
                    "id": str(p.snowflake()),
                    "filename": filename,
                    "size": len(data),
                    "url": f"{self.api_base}/attachments/{message_id}/{filename}",
                    "proxy_url": f"{self.api_base}/attachments/{message_id}/{filename}",
                }
            )
        return stored

    async def _callback(self, call: Call, request: web.Request, iid: str, token: str) -> Any:
        record = self._record(token)
        if record.id != int(iid):
            raise DiscordError(404, 10062, "Unknown interaction")
        if record.callback is not None:
            raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
        if call.at - record.sent_at > self.ack_deadline_s:
            record.late_callbacks += 1
            raise DiscordError(404, 10062, "Unknown interaction")
        body = call.body or {}
        record.callback = body
        record.callback_at = call.at
        record.calls.append(call)
        kind = int(body["type"])
        data = body.get("data") or {}
        message: dict[str, Any] | None = None
        if kind == 4:
            message = self._new_message(record, data)
            message["attachments"] = self._store_files(int(message["id"]), data, call)
            record.original_id = int(message["id"])
        elif kind == 5:
            message = self._new_message(record, {"flags": int(data.get("flags") or 0) | LOADING})
            record.original_id = int(message["id"])
        elif kind in (6, 7):
            clicked = record.payload.get("message")
            if clicked is None:
                raise DiscordError(400, 50035, "Invalid Form Body (no message to update)")
            message_id = int(clicked["id"])
            self.messages.setdefault(message_id, clicked)
            record.original_id = message_id
            if kind == 7:
                message = self._update_message(message_id, data, call)
        if kind in FINAL_CALLBACKS:
            record.settled_at = call.at
        response: dict[str, Any] = {
            "interaction": {
                "id": iid,
                "type": record.payload["type"],
                "response_message_id": str(record.original_id) if record.original_id else None,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(int(data.get("flags") or 0) & p.EPHEMERAL),
            }
        }
        if kind in (4, 5, 7) and message is not None:
            response["resource"] = {"type": kind, "message": message}
        elif kind in (6, 8, 9):
            response["resource"] = {"type": kind}
        return response

    async def _followup(self, call: Call, request: web.Request, app: str, token: str) -> Any:
        record = self._record(token)
        record.calls.append(call)
        body = call.body or {}
        original = self.messages.get(record.original_id or -1)
        if record.callback_type == 5 and original is not None and original["flags"] & LOADING:
            # Discord fills the deferred "thinking" message with the first follow-up.
            message = self._update_message(int(original["id"]), body, call)
            record.settled_at = call.at
        else:
            message = self._new_message(record, body)
            message["attachments"] = self._store_files(int(message["id"]), body, call)
            record.followup_ids.append(int(message["id"]))
        return message

    def _target(self, record: Interaction, mid: str) -> int:
        if mid == "@original":
            if record.original_id is None:
                raise DiscordError(404, 10008, "Unknown Message")
            return record.original_id
        if int(mid) not in self.messages:
            raise DiscordError(404, 10008, "Unknown Message")
        return int(mid)

    async def _edit(self, call: Call, request: web.Request, app: str, token: str, mid: str) -> Any:
        record = self._record(token)
        record.calls.append(call)
        message_id = self._target(record, mid)
        message = self._update_message(message_id, call.body or {}, call)
        if message_id == record.original_id:
            record.settled_at = record.settled_at or call.at
        return message

    async def _get_webhook_message(
        self, call: Call, request: web.Request, app: str, token: str, mid: str
    ) -> Any:
        return self.messages[self._target(self._record(token), mid)]

    async def _delete_webhook_message(
        self, call: Call, request: web.Request, app: str, token: str, mid: str
    ) -> Any:
        self.messages.pop(self._target(self._record(token), mid), None)
        return None

    async def _open_dm(self, call: Call, request: web.Request) -> Any:
        recipient = int((call.body or {})["recipient_id"])
        channel_id = self.dm_channels.setdefault(recipient, p.snowflake())
        return {
            "id": str(channel_id),
            "type": 1,
            "last_message_id": None,
            "recipients": [p.user(recipient, f"user{recipient}")],
        }

    async def _channel_message(self, call: Call, request: web.Request, channel: str) -> Any:
        body = call.body or {}
        message_id = p.snowflake()
        message = p.message(
            message_id=message_id,
            channel_id=int(channel),
            author=self.bot_user,
            application_id=self.application_id,
            body=body,
            message_type=0,
        )
        message["attachments"] = self._store_files(message_id, body, call)
        self.messages[message_id] = message
        self.channel_messages.append(message)
        return message


_UNAUTHENTICATED = {
    "_callback",
    "_followup",
    "_edit",
    "_get_webhook_message",
    "_delete_webhook_message",
    "_get_gateway",
}


class _GatewaySession:
    """One websocket connection (one shard)."""

    def __init__(self, fake: FakeDiscord, ws: web.WebSocketResponse) -> None:
        self.fake = fake
        self.ws = ws
        self.sequence = 0
        self.ready = False
        self.shard_id = 0
        self.shard_count = 1
        self.session_id = f"session-{p.snowflake()}"
        self._lock = asyncio.Lock()

    def owns(self, guild_id: int) -> bool:
        return (guild_id >> 22) % self.shard_count == self.shard_id

    async def send(self, op: int, data: Any, event: str | None = None) -> None:
        async with self._lock:
            sequence = None
            if op == 0:
                self.sequence += 1
                sequence = self.sequence
            await self.ws.send_str(json.dumps({"op": op, "d": data, "s": sequence, "t": event}))

    async def received(self, message: dict[str, Any]) -> None:
        op = message.get("op")
        data = message.get("d")
        if op == 1:
            await self.send(11, None)
        elif op == 2:
            await self._identify(data or {})
        elif op == 6:
            await self.send(0, {}, "RESUMED")
            self.ready = True
            await self.fake._notify()

    async def _identify(self, data: dict[str, Any]) -> None:
        if data.get("token") != self.fake.token:
            await self.ws.close(code=4004, message=b"Authentication failed.")
            return
        self.fake.identify_payloads.append(data)
        shard = data.get("shard") or [0, 1]
        self.shard_id, self.shard_count = int(shard[0]), int(shard[1])
        guilds = [g for g in self.fake.guild_ids if self.owns(g)]
        await self.send(
            0,
            {
                "v": 10,
                "user": {**self.fake.bot_user, "verified": True, "mfa_enabled": False, "flags": 0},
                "guilds": [{"id": str(g), "unavailable": True} for g in guilds],
                "session_id": self.session_id,
                "resume_gateway_url": self.fake.gateway_url,
                "shard": [self.shard_id, self.shard_count],
                "application": {"id": str(self.fake.application_id), "flags": 0},
                "private_channels": [],
                "relationships": [],
            },
            "READY",
        )
        for guild_id in guilds:
            await self.send(
                0,
                p.guild(
                    guild_id, self.fake.channel_ids[guild_id], self.fake.owner.id, "test guild"
                ),
                "GUILD_CREATE",
            )
        self.ready = True
        await self.fake._notify()


def _json(value: Any, status: int = 200) -> web.Response:
    # discord.py parses a body as JSON only for exactly "application/json" (no charset).
    return web.Response(
        body=json.dumps(value).encode(), status=status, content_type="application/json"
    )


async def _read_body(request: web.Request) -> tuple[Any, dict[str, bytes]]:
    if not request.can_read_body:
        return None, {}
    if request.content_type.startswith("multipart/"):
        form = await request.post()
        files: dict[str, bytes] = {}
        body: Any = None
        for name, value in form.items():
            if name == "payload_json":
                body = json.loads(str(value))
            elif hasattr(value, "file"):
                files[name] = value.file.read()  # type: ignore[union-attr]
        return body, files
    raw = await request.read()
    return (json.loads(raw) if raw else None), {}


def find_component(message: dict[str, Any], custom_id: str) -> dict[str, Any] | None:
    """The component with ``custom_id`` anywhere in a message's component tree."""
    stack = list(message.get("components") or [])
    while stack:
        component = stack.pop()
        if component.get("custom_id") == custom_id:
            return component
        stack.extend(component.get("components") or [])
    return None


def custom_ids(message: dict[str, Any]) -> list[str]:
    """Every custom_id of a message, in display order."""
    found: list[str] = []

    def walk(components: list[dict[str, Any]]) -> None:
        for component in components:
            if "custom_id" in component:
                found.append(component["custom_id"])
            walk(component.get("components") or [])

    walk(message.get("components") or [])
    return found
