"""Quiet hours and read escalation over HTTP, in both modes: the settings round trip, every bad input
answered with ret 202 and nothing stored, and a push held by quiet hours delivered when they end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from shared.data import delivery_preferences
from tests.integration.processes import Deployment
from tests.integration.test_push_flow import get_json, post_json, sign_in
from tests.integration.test_push_ways_flow import World, bind_and_verify, world  # noqa: F401 (fixture)

EMAIL = "quiet@example.com"
NOTHING = {"start": None, "end": None, "timezone": None, "enabled": False}


async def call(
    session: aiohttp.ClientSession, deployment: Deployment, method: str, path: str, token: str, **body: Any
) -> dict[str, Any]:
    request = post_json if method == "POST" else get_json
    status, answer = await request(
        session,
        f"{deployment.auth_url}{path}",
        params={"token": token},
        json=body if method == "POST" else None,
    )
    assert status == 200, answer
    return answer


async def test_settings_round_trip_and_bad_input_changes_nothing(deployment: Deployment) -> None:
    user = deployment.cli_json("user", "create", "--email", EMAIL)
    async with aiohttp.ClientSession() as session:
        token = await sign_in(deployment, session, EMAIL)

        async def open_api(method: str, path: str, **body: Any) -> dict[str, Any]:
            return await call(session, deployment, method, path, token, **body)

        assert (await open_api("GET", "/open/push-way/quiet-hours"))["data"] == NOTHING
        assert (await open_api("GET", "/open/push-way/escalation"))["data"] == {"minutes": 0}
        assert (await call(session, deployment, "GET", "/open/push-way/quiet-hours", "wrong"))["ret"] == 301

        night = {"start": "23:00", "end": "07:00", "timezone": "Asia/Shanghai", "enabled": True}
        assert (await open_api("POST", "/open/push-way/quiet-hours", **night)) == {
            "ret": 0,
            "data": night,
            "errMsg": "success",
        }
        for bad in (
            {**night, "start": "7:00"},
            {**night, "end": "24:00"},
            {**night, "end": "23:00"},  # start = end
            {**night, "timezone": "Mars/Olympus"},
            {**night, "timezone": "../../etc/passwd"},
            {**night, "timezone": 8},
            {**night, "enabled": "yes"},
            {"start": "23:00"},
            {},
        ):
            answer = await open_api("POST", "/open/push-way/quiet-hours", **bad)
            assert answer["ret"] == 202 and answer["errMsg"] != "success", (bad, answer)
        assert (await open_api("GET", "/open/push-way/quiet-hours"))["data"] == night

        switched_off = await open_api("POST", "/open/push-way/quiet-hours", enabled=False)
        assert switched_off["data"] == {**night, "enabled": False}

        assert (await open_api("POST", "/open/push-way/escalation", minutes=30))["data"] == {"minutes": 30}
        for minutes in (-1, 1441, 1.5, "ten", True, None, "٣"):
            answer = await open_api("POST", "/open/push-way/escalation", minutes=minutes)
            assert answer["ret"] == 202, (minutes, answer)
        assert (await open_api("GET", "/open/push-way/escalation"))["data"] == {"minutes": 30}

        # A push's level is checked like every field.
        status, answer = await get_json(
            session, f"{deployment.gateway_url}/{user['key']}/hello", params={"level": "loud"}
        )
        assert (status, answer["ret"]) == (400, 202)

    store = deployment.open_store()
    try:
        stored = await delivery_preferences.get_for_user(store, user["id"])
    finally:
        await store.close()
    assert stored is not None and stored["escalationMinutes"] == 30


async def test_a_push_in_quiet_hours_reaches_the_inbox_at_once_and_bark_when_they_end(
    world: World,  # noqa: F811
) -> None:
    await bind_and_verify(world)
    now = datetime.now(UTC)
    end = (now + timedelta(seconds=4)).replace(microsecond=0)
    quiet = {
        "start": (now - timedelta(hours=1)).strftime("%H:%M:%S"),
        "end": end.strftime("%H:%M:%S"),
        "timezone": "UTC",
    }
    assert (await world.open("POST", "/open/push-way/quiet-hours", **quiet))["ret"] == 0
    pushes_before = len(world.bark.pushes)

    held = await world.push("after-the-quiet")
    shown = await world.settled(held, "delivered")
    assert shown["mode"] == "bark"
    assert world.bark.pushes[pushes_before].body["body"] == "after-the-quiet"
    (stored, bark) = shown["delivery"]["attempts"]
    assert stored["way"] == "inbox"
    delivered_at = datetime.fromisoformat(bark["at"].replace("Z", "+00:00"))
    assert delivered_at >= end  # held until the quiet hours ended


@pytest.mark.parametrize("level", ["critical"])
async def test_a_critical_push_is_not_held(world: World, level: str) -> None:  # noqa: F811
    await bind_and_verify(world)
    quiet = {"start": "00:00", "end": "23:59:59", "timezone": "UTC"}
    assert (await world.open("POST", "/open/push-way/quiet-hours", **quiet))["ret"] == 0
    status, answer = await get_json(
        world.session, f"{world.deployment.gateway_url}/{world.key}/wake-up", params={"level": level}
    )
    assert (status, answer["ret"]) == (200, 0)
    shown = await world.settled(answer["data"]["id"], "delivered")
    assert shown["mode"] == "bark"
