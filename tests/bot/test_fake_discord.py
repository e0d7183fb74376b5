"""The fake's own rules, so that the end-to-end tests can trust what it records."""

from __future__ import annotations

import aiohttp

from tests.bot.fake_discord import FakeDiscord
from tests.bot.fake_discord.payloads import EPHEMERAL


async def _session(
    fake: FakeDiscord,
) -> tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse]:
    session = aiohttp.ClientSession()
    ws = await session.ws_connect(fake.gateway_url)
    hello = await ws.receive_json()
    assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] > 0
    await ws.send_json({"op": 2, "d": {"token": fake.token, "intents": 1}})
    ready = await ws.receive_json()
    assert ready["t"] == "READY" and ready["d"]["guilds"][0]["unavailable"] is True
    guild = await ws.receive_json()
    assert guild["t"] == "GUILD_CREATE" and guild["s"] == 2
    await ws.send_json({"op": 1, "d": 2})
    assert (await ws.receive_json())["op"] == 11
    return session, ws


async def test_callbacks_after_the_deadline_are_refused_and_deferrals_are_filled() -> None:
    fake = FakeDiscord(ack_deadline_s=0.0)
    await fake.start()
    session, ws = await _session(fake)
    try:
        user = fake.make_user("u")
        record = await fake.slash("rate", user, movie="x")
        event = await ws.receive_json()
        assert event["t"] == "INTERACTION_CREATE" and event["d"]["id"] == str(record.id)
        url = f"{fake.api_base}/interactions/{record.id}/{record.token}/callback"
        async with session.post(url, json={"type": 5, "data": {"flags": EPHEMERAL}}) as late:
            assert late.status == 404 and (await late.json())["code"] == 10062
        assert record.callback is None and record.late_callbacks == 1

        fake.ack_deadline_s = 3.0
        record = await fake.slash("rate", user, movie="y")
        await ws.receive_json()
        url = f"{fake.api_base}/interactions/{record.id}/{record.token}/callback"
        async with session.post(url, json={"type": 5, "data": {"flags": EPHEMERAL}}) as ok:
            assert ok.status == 200
        webhook = f"{fake.api_base}/webhooks/{fake.application_id}/{record.token}"
        async with session.post(webhook, json={"content": "done"}) as first:
            assert first.status == 200
        async with session.post(webhook, json={"content": "more"}) as second:
            assert second.status == 200
        answer = await fake.answer(record)
        assert answer["content"] == "done" and answer["flags"] == EPHEMERAL
        assert [m["content"] for m in await fake.followups(record)] == ["more"]
    finally:
        await ws.close()
        await session.close()
        await fake.close()


async def test_a_wrong_token_is_refused_over_rest_and_on_the_gateway() -> None:
    fake = FakeDiscord()
    await fake.start()
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": "Bot wrong"}
        async with session.get(f"{fake.api_base}/users/@me", headers=headers) as response:
            assert response.status == 401
        ws = await session.ws_connect(fake.gateway_url)
        await ws.receive_json()
        await ws.send_json({"op": 2, "d": {"token": "wrong", "intents": 1}})
        await ws.receive()
        assert ws.close_code == 4004
    await fake.close()
