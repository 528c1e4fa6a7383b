"""Push rate limits over HTTP, in both modes: per key, per client address, across two gateway processes,
exempt networks, 0 = off, bad settings; and key changes announced from another process reaching the
running gateway's cache at once.

A limit of N a minute admits a burst of N, then one more each 60/N seconds; because a window moves at
fixed slot edges, one more may slip in right after a burst (`shared.rate_limit`): the assertions allow
exactly that one, plus one per slot interval the test took.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path
from typing import Any
from unittest import mock

import aiohttp
import pytest

from igot.runtime import open_bus
from services.auth.key_events import announce_keys_changed
from shared.data import keys, messages, rate_slots
from shared.settings import Settings
from tests.integration.conftest import deployed, start_standalone
from tests.integration.processes import (
    IGOT,
    Deployment,
    free_port,
    start,
    wait_ready,
)
from tests.waiting import eventually

MODES = ("standalone", "distributed")


async def push(
    session: aiohttp.ClientSession, base: str, key: str, content: str, **headers: str
) -> tuple[int, int, str | None]:
    """(HTTP status, ret, Retry-After) of one push."""
    async with session.get(f"{base}/{key}/{content}", headers=headers) as response:
        answer: dict[str, Any] = await response.json()
        return response.status, answer["ret"], response.headers.get("Retry-After")


def assert_refused_properly(outcome: tuple[int, int, str | None], interval_seconds: int) -> None:
    status, ret, retry_after = outcome
    assert (status, ret) == (429, 205), outcome
    assert retry_after is not None and 1 <= int(retry_after) <= interval_seconds, outcome


async def stored_messages(deployment: Deployment) -> int:
    store = deployment.open_store()
    try:
        return await store.collection(messages.COLLECTION).count({})
    finally:
        await store.close()


@pytest.mark.parametrize("mode", MODES)
async def test_pushes_through_one_key_are_limited(
    mode: str, tmp_path: Path, amqp_url: str, mongo_url: str, namespace: str
) -> None:
    settings = {"push_rate_per_key": "5", "push_rate_per_ip": "0"}  # one slot every 12 s
    async with (
        deployed(mode, tmp_path, amqp_url, mongo_url, namespace, **settings) as deployment,
        aiohttp.ClientSession() as session,
    ):
        busy = deployment.cli_json("user", "create", "--email", "busy@example.com")["key"]
        quiet = deployment.cli_json("user", "create", "--email", "quiet@example.com")["key"]
        outcomes = [await push(session, deployment.gateway_url, busy, f"m{n}") for n in range(8)]
        assert [ret for _, ret, _ in outcomes[:5]] == [0] * 5
        accepted = sum(ret == 0 for _, ret, _ in outcomes)
        assert accepted <= 6, outcomes
        for outcome in outcomes[5:]:
            if outcome[1] != 0:
                assert_refused_properly(outcome, 12)
        # Another key has a budget of its own; refused pushes were not stored.
        assert (await push(session, deployment.gateway_url, quiet, "hello"))[:2] == (200, 0)
        assert await stored_messages(deployment) == accepted + 1
        store = deployment.open_store()
        try:
            slots = str(await store.collection(rate_slots.COLLECTION).find({}))
        finally:
            await store.close()
        assert busy not in slots and quiet not in slots  # keys are hashed before they are stored


@pytest.mark.parametrize("mode", MODES)
async def test_pushes_from_one_client_are_limited_across_keys(
    mode: str, tmp_path: Path, amqp_url: str, mongo_url: str, namespace: str
) -> None:
    settings = {
        "push_rate_per_key": "0",
        "push_rate_per_ip": "4",  # one slot every 15 s
        "trusted_proxies": '["127.0.0.1/32"]',
        "rate_limit_exempt": '["10.0.0.0/8"]',
    }
    async with (
        deployed(mode, tmp_path, amqp_url, mongo_url, namespace, **settings) as deployment,
        aiohttp.ClientSession() as session,
    ):
        keys_ = [
            deployment.cli_json("user", "create", "--email", f"u{n}@example.com")["key"] for n in range(2)
        ]

        async def from_client(address: str, times: int, *, key: str | None = None) -> list[tuple[int, int]]:
            outcomes = []
            for n in range(times):
                outcome = await push(
                    session,
                    deployment.gateway_url,
                    key or keys_[n % 2],
                    f"p{n}",
                    **{"X-Forwarded-For": address},
                )
                if outcome[1] == 205:
                    assert_refused_properly(outcome, 15)
                outcomes.append(outcome[:2])
            return outcomes

        def accepted_then_refused(outcomes: list[tuple[int, int]], burst: int) -> bool:
            oks = sum(ret == 0 for _, ret in outcomes)
            return outcomes[:burst] == [(200, 0)] * burst and oks <= burst + 1 and (429, 205) in outcomes

        # One address, two keys: one budget.
        assert accepted_then_refused(await from_client("198.51.100.1", 7), 4)
        # An IPv6 client is its /64: rotating addresses inside it shares one budget.
        rotating = [(await from_client(f"2001:db8:1:2::{n}", 1))[0] for n in range(1, 8)]
        assert accepted_then_refused(rotating, 4)
        assert await from_client("2001:db8:1:3::1", 1) == [(200, 0)]
        # Exempt networks are never limited.
        assert await from_client("10.1.2.3", 10) == [(200, 0)] * 10
        # Guessing keys costs the guesser its budget: unknown keys count, and then 429 comes instead of 404.
        guesses = await from_client("203.0.113.9", 4, key="0" * 24)
        assert guesses == [(404, 203)] * 4
        assert (429, 205) in await from_client("203.0.113.9", 2)


async def test_limits_hold_across_two_gateway_processes(
    tmp_path: Path, amqp_url: str, mongo_url: str, namespace: str
) -> None:
    per_key = 10  # one slot every 6 s
    settings = {"push_rate_per_key": str(per_key), "push_rate_per_ip": "0"}
    async with (
        deployed("distributed", tmp_path, amqp_url, mongo_url, namespace, **settings) as deployment,
        aiohttp.ClientSession() as session,
    ):
        second = start("gateway-2", ["serve", "gateway"], deployment.env, tmp_path, free_port())
        deployment.processes.append(second)
        await wait_ready(second)
        key = deployment.cli_json("user", "create", "--email", "two@example.com")["key"]
        started = time.monotonic()
        outcomes = await asyncio.gather(
            *(
                push(session, base, key, f"m{n}")
                for n in range(15)
                for base in (deployment.gateway_url, second.url)
            )
        )
        took = time.monotonic() - started
        accepted = sum(ret == 0 for _, ret, _ in outcomes)
        # The burst, the one slot that may open right after it, and one per 6 s the pushes took.
        assert per_key <= accepted <= per_key + 1 + int(took // 6), outcomes
        for outcome in outcomes:
            if outcome[1] != 0:
                assert_refused_properly(outcome, 6)
        assert await stored_messages(deployment) == accepted


async def test_limits_of_zero_are_off(tmp_path: Path) -> None:
    deployment = await start_standalone(tmp_path, push_rate_per_key="0", push_rate_per_ip="0")
    try:
        key = deployment.cli_json("user", "create", "--email", "free@example.com")["key"]
        async with aiohttp.ClientSession() as session:
            outcomes = await asyncio.gather(
                *(push(session, deployment.gateway_url, key, f"m{n}") for n in range(40))
            )
        assert [outcome[:2] for outcome in outcomes] == [(200, 0)] * 40
        store = deployment.open_store()
        try:
            assert await store.collection(rate_slots.COLLECTION).count({}) == 0  # nothing counted at all
        finally:
            await store.close()
    finally:
        assert deployment.stop() == {"standalone": 0}


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("IGOT_PUSH_RATE_PER_KEY", "-1"),
        ("IGOT_PUSH_RATE_PER_IP", "lots"),
        ("IGOT_RATE_LIMIT_EXEMPT", '["not a network"]'),
        ("IGOT_KEY_CACHE_TTL_SECONDS", "0"),
    ],
)
def test_bad_limit_settings_are_refused_at_start(tmp_path: Path, variable: str, value: str) -> None:
    env = {key: val for key, val in os.environ.items() if not key.startswith("IGOT_")}
    env.update({"IGOT_DATA_DIR": str(tmp_path / "data"), variable: value})
    result = subprocess.run(
        [*IGOT, "standalone", "--port", str(free_port())],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert f"igot: {variable}:" in result.stderr


def settings_of(deployment: Deployment) -> Settings:
    with mock.patch.dict(os.environ, deployment.env, clear=True):
        return Settings()


async def announce_from_here(deployment: Deployment, user_id: str, change: dict[str, Any]) -> None:
    """Change a user's keys in the store and announce it, from this process, as the admin CLI does."""
    settings = settings_of(deployment)
    store = deployment.open_store()
    bus = open_bus(settings, settings.mode, store=store)
    await bus.start()
    try:
        if "owner" in change:
            await keys.set_owner_status(store, user_id, change["owner"])
        else:
            await store.collection(keys.COLLECTION).update_one(
                {"_id": change["key"]}, {"$set": {"status": change["status"]}}
            )
        await announce_keys_changed(bus, user_id=user_id, keys=[change["key"]] if "key" in change else [])
    finally:
        await bus.stop()
        await store.close()


@pytest.mark.parametrize("mode", MODES)
async def test_announced_key_changes_reach_the_running_gateway_at_once(
    mode: str, tmp_path: Path, amqp_url: str, mongo_url: str, namespace: str
) -> None:
    # The gateway would trust a key it read for an hour: only the announcement can make it look again.
    settings = {"key_cache_ttl_seconds": "3600"}
    async with (
        deployed(mode, tmp_path, amqp_url, mongo_url, namespace, **settings) as deployment,
        aiohttp.ClientSession() as session,
    ):
        user = deployment.cli_json("user", "create", "--email", "cached@example.com")
        key, user_id = user["key"], user["id"]
        base = deployment.gateway_url
        assert (await push(session, base, key, "cached"))[:2] == (200, 0)

        async def answers(expected: tuple[int, int]) -> bool:
            return (await push(session, base, key, "probe"))[:2] == expected

        # Changed behind the gateway's back: its cached copy still says active.
        store = deployment.open_store()
        try:
            await store.collection(keys.COLLECTION).update_one({"_id": key}, {"$set": {"status": "paused"}})
        finally:
            await store.close()
        assert (await push(session, base, key, "still cached"))[:2] == (200, 0)

        await announce_from_here(deployment, user_id, {"key": key, "status": "paused"})
        await eventually(lambda: answers((403, 204)), timeout=15, what="the paused key refused")
        await announce_from_here(deployment, user_id, {"key": key, "status": "active"})
        await eventually(lambda: answers((200, 0)), timeout=15, what="the resumed key accepted")
        # An account disabled: every key of the user, none named.
        await announce_from_here(deployment, user_id, {"owner": "disabled"})
        await eventually(lambda: answers((403, 204)), timeout=15, what="the disabled account's key refused")
