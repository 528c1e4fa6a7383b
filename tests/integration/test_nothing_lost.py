"""Nothing acknowledged is lost: the broker goes away (distributed), the process dies (standalone)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
from pathlib import Path

import aiohttp

from shared.bus import queue_table
from shared.data import deliveries, outbox, push_ways
from shared.settings import Settings
from shared.store.sqlite import SqliteStore
from tests.fakes.tcp_proxy import CuttableProxy
from tests.fakes.webhook_receiver import HANG, WebhookReceiver
from tests.integration.conftest import start_standalone
from tests.integration.processes import (
    Deployment,
    base_env,
    distributed_settings,
    drop_database,
    free_port,
    remove_broker_namespace,
    start,
    wait_ready,
)
from tests.integration.test_push_flow import get_json, inbox, sign_in, wait_for_inbox
from tests.waiting import eventually


async def test_broker_outage_between_gateway_and_rabbitmq(
    tmp_path: Path, amqp_url: str, mongo_url: str, namespace: str
) -> None:
    proxy = CuttableProxy(amqp_url)
    await proxy.start()
    common = distributed_settings(amqp_url, mongo_url, namespace) | {
        "outbox_grace_seconds": "1",
        "outbox_interval_seconds": "0.5",
    }
    direct_env = base_env(tmp_path, **common)
    gateway_env = base_env(tmp_path, **(common | {"amqp_url": proxy.url}))
    deployment = Deployment(env=direct_env, gateway_url="", auth_url="", workdir=tmp_path)
    try:
        deployment.cli("migrate")
        auth = start("auth", ["serve", "auth"], direct_env, tmp_path, free_port())
        dispatcher = start("dispatcher", ["serve", "dispatcher"], direct_env, tmp_path, free_port())
        gateway = start("gateway", ["serve", "gateway"], gateway_env, tmp_path, free_port())
        deployment.processes += [auth, dispatcher, gateway]
        for process in deployment.processes:
            await wait_ready(process)
        deployment.auth_url, deployment.gateway_url = auth.url, gateway.url
        key = deployment.cli_json("user", "create", "--email", "outage@example.com")["key"]

        async with aiohttp.ClientSession() as session:
            _, before = await get_json(session, f"{gateway.url}/{key}/before")
            assert before["ret"] == 0
            await proxy.cut()
            during = []
            for n in range(5):
                status, answer = await get_json(session, f"{gateway.url}/{key}/during-{n}")
                assert (status, answer["ret"]) == (200, 0), answer
                during.append(answer["data"]["id"])
            await proxy.restore()
            token = await sign_in(deployment, session, "outage@example.com")
            await wait_for_inbox(deployment, session, token, 6, timeout=60)
            contents = sorted(
                m["body"]["content"] for m in (await inbox(deployment, session, token))["messages"]
            )
            assert contents == ["before", *[f"during-{n}" for n in range(5)]]
    finally:
        deployment.stop()
        await proxy.stop()
        drop_database(mongo_url, namespace)
        await remove_broker_namespace(amqp_url, f"igot-{namespace}", Settings().bus_retry_delays)


async def test_standalone_killed_mid_flight_delivers_everything_after_restart(tmp_path: Path) -> None:
    deployment = await start_standalone(tmp_path)
    burst = 300
    try:
        key = deployment.cli_json("user", "create", "--email", "crash@example.com")["key"]
        async with aiohttp.ClientSession() as session:
            answers = await asyncio.gather(
                *(get_json(session, f"{deployment.gateway_url}/{key}/m{n}") for n in range(burst))
            )
        assert [answer["ret"] for _, answer in answers] == [0] * burst
        accepted = {answer["data"]["id"] for _, answer in answers}
        # No goodbye: what the process was doing is left in the outbox and the bus's queue table.
        deployment.processes[0].popen.send_signal(signal.SIGKILL)
        deployment.processes[0].popen.wait()
        in_flight = _work_left(tmp_path / "data" / "igot.sqlite3")
        assert in_flight > 0, "the burst finished before the kill: nothing left to recover"

        restarted = start("standalone-again", ["standalone"], deployment.env, tmp_path, free_port())
        deployment.processes.append(restarted)
        await wait_ready(restarted)
        deployment.gateway_url = deployment.auth_url = restarted.url
        async with aiohttp.ClientSession() as session:
            token = await sign_in(deployment, session, "crash@example.com")
            await wait_for_inbox(deployment, session, token, burst, timeout=60)
            ids: set[str] = set()
            for page in range(1, burst // 50 + 1):
                data = await inbox(deployment, session, token, index=page, size=50)
                ids |= {m["id"] for m in data["messages"]}
            assert ids == accepted
    finally:
        deployment.stop()


def _work_left(database: Path) -> int:
    """Outbox entries plus messages still queued on the standalone bus (its table in the same file)."""
    with contextlib.closing(sqlite3.connect(database)) as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return sum(
            int(conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0])
            for table in (outbox.COLLECTION, queue_table.TABLE)
            if table in tables
        )


def _kill(deployment: Deployment) -> None:
    deployment.processes[-1].popen.send_signal(signal.SIGKILL)
    deployment.processes[-1].popen.wait()


async def _restart(deployment: Deployment, tmp_path: Path) -> None:
    restarted = start("standalone-again", ["standalone"], deployment.env, tmp_path, free_port())
    deployment.processes.append(restarted)
    await wait_ready(restarted)
    deployment.gateway_url = deployment.auth_url = restarted.url


async def _webhook_user(deployment: Deployment, tmp_path: Path, email: str, receiver: WebhookReceiver) -> str:
    user = deployment.cli_json("user", "create", "--email", email)
    store = SqliteStore(tmp_path / "data" / "igot.sqlite3")
    try:
        await store.collection(push_ways.COLLECTION).insert_one(
            {
                "_id": user["id"],
                "orders": ["webhook"],
                "webhook": {"key": receiver.url, "secret": receiver.secret, "status": push_ways.VERIFIED},
            }
        )
    finally:
        await store.close()
    key: str = user["key"]
    return key


async def test_standalone_killed_mid_send_delivers_after_restart(tmp_path: Path) -> None:
    """Killed while the webhook call is under way, the delivery is made again after the restart.

    Delivery is at least once: the receiver may have taken the first call (here it was still waiting to
    answer), and the try is made again because its outcome was never recorded.
    """
    receiver = WebhookReceiver("kill-secret", script=[HANG])
    await receiver.start()
    deployment = await start_standalone(tmp_path)
    try:
        key = await _webhook_user(deployment, tmp_path, "midsend@example.com", receiver)
        async with aiohttp.ClientSession() as session:
            _, answer = await get_json(session, f"{deployment.gateway_url}/{key}/hold-on")
        message_id = answer["data"]["id"]
        await eventually(lambda: len(receiver.requests) == 1, what="the webhook call under way")
        _kill(deployment)
        receiver.release()
        await _restart(deployment, tmp_path)
        await eventually(lambda: len(receiver.requests) >= 2, timeout=60, what="the call made again")
        assert set(receiver.ids()) == {message_id}
        async with aiohttp.ClientSession() as session:
            token = await sign_in(deployment, session, "midsend@example.com")

            async def delivered() -> bool:
                _, shown = await get_json(
                    session, f"{deployment.gateway_url}/open/message/{message_id}", params={"token": token}
                )
                message = shown["data"]["message"]
                return bool(message["mode"] == "webhook" and message["delivery"]["status"] == "delivered")

            await eventually(delivered, timeout=30, what="the entry delivered")
    finally:
        deployment.stop()
        await receiver.stop()


async def test_standalone_killed_after_a_burst_delivers_every_push_after_restart(tmp_path: Path) -> None:
    # A few calls hang until the restart: the kill always finds deliveries under way.
    receiver = WebhookReceiver("burst-secret", script=[HANG] * 5)
    await receiver.start()
    deployment = await start_standalone(tmp_path)
    burst = 150
    try:
        key = await _webhook_user(deployment, tmp_path, "burst@example.com", receiver)
        async with aiohttp.ClientSession() as session:
            answers = await asyncio.gather(
                *(get_json(session, f"{deployment.gateway_url}/{key}/b{n}") for n in range(burst))
            )
        assert [answer["ret"] for _, answer in answers] == [0] * burst
        accepted = {answer["data"]["id"] for _, answer in answers}
        _kill(deployment)
        assert await _delivered_count(tmp_path / "data" / "igot.sqlite3") < burst
        receiver.release()
        await _restart(deployment, tmp_path)
        await eventually(lambda: set(receiver.ids()) == accepted, timeout=90, what="every push delivered")
        async with aiohttp.ClientSession() as session:
            token = await sign_in(deployment, session, "burst@example.com")
            await wait_for_inbox(deployment, session, token, burst, timeout=60)
            modes: dict[str, str] = {}

            async def all_delivered() -> bool:
                for page in range(1, burst // 50 + 1):
                    data = await inbox(deployment, session, token, index=page, size=50)
                    modes.update({m["id"]: m["mode"] for m in data["messages"]})
                return set(modes) == accepted and set(modes.values()) == {"webhook"}

            await eventually(all_delivered, timeout=30, what="every entry delivered on the webhook")
    finally:
        deployment.stop()
        await receiver.stop()


async def _delivered_count(database: Path) -> int:
    store = SqliteStore(database)
    try:
        return await store.collection(deliveries.COLLECTION).count({"status": "delivered"})
    finally:
        await store.close()
