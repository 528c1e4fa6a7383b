"""What operators rely on: health, readiness and metrics on every process, parked messages, a store outage."""

from __future__ import annotations

import json
from pathlib import Path

import aio_pika
import aiohttp
import pytest

from shared.settings import Settings
from tests.fakes.tcp_proxy import CuttableProxy
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
from tests.integration.test_push_flow import get_json
from tests.waiting import eventually


async def test_every_process_reports_health_readiness_and_metrics(deployment: Deployment) -> None:
    key = deployment.cli_json("user", "create", "--email", "ops@example.com")["key"]
    async with aiohttp.ClientSession() as session:
        _, pushed = await get_json(session, f"{deployment.gateway_url}/{key}/counted")
        assert pushed["ret"] == 0
        for process in deployment.processes:
            status, health = await get_json(session, f"{process.url}/healthz")
            assert (status, health["status"]) == (200, "ok")
            status, ready = await get_json(session, f"{process.url}/readyz")
            assert (status, ready) == (200, {"status": "ok", "store": "ok", "bus": "ok"})
            async with session.get(f"{process.url}/metrics") as response:
                assert response.status == 200
                exposition = await response.text()
            assert "igot_http_requests_total" in exposition
        async with session.get(f"{deployment.gateway_url}/metrics") as response:
            exposition = await response.text()
        assert 'igot_http_requests_total{route="/{key}/{content}",status="200"} 1.0' in exposition


@pytest.mark.parametrize("deployment", ["distributed"], indirect=True)
async def test_parked_messages_are_listed_and_replayed(deployment: Deployment, amqp_url: str) -> None:
    exchange = deployment.env["IGOT_BUS_EXCHANGE"]
    broken = {"type": "message.accepted", "version": 1, "message_id": "x"}  # required fields missing
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        target = await channel.get_exchange(exchange)
        await target.publish(aio_pika.Message(json.dumps(broken).encode()), routing_key="message.accepted.v1")

    def parked() -> list[dict[str, str]]:
        return [json.loads(line) for line in deployment.cli("dlq", "list").splitlines()]

    await eventually(lambda: len(parked()) == 1, timeout=20, what="the broken message to be parked")
    entry = parked()[0]
    assert entry["routing_key"] == "message.accepted.v1"
    assert json.loads(entry["body"]) == broken
    assert "validation" in entry["error"].lower() or "field required" in entry["error"].lower()
    assert "replayed 1 message" in deployment.cli("dlq", "replay")
    # Replayed to the consumer, refused again, parked again: never lost, never looping.
    await eventually(lambda: len(parked()) == 1, timeout=20, what="the replayed message to be parked again")


async def test_store_outage_refuses_pushes_with_102_and_recovers(
    tmp_path: Path, amqp_url: str, mongo_url: str, namespace: str
) -> None:
    proxy = CuttableProxy(mongo_url)
    await proxy.start()
    settings = distributed_settings(amqp_url, mongo_url, namespace)
    deployment = Deployment(env=base_env(tmp_path, **settings), gateway_url="", auth_url="", workdir=tmp_path)
    proxied_env = base_env(tmp_path, **(settings | {"mongo_url": proxy.url}))
    gateway = start("gateway", ["serve", "gateway"], proxied_env, tmp_path, free_port())
    deployment.processes.append(gateway)
    try:
        await wait_ready(gateway)
        key = deployment.cli_json("user", "create", "--email", "outage@example.com")["key"]
        async with aiohttp.ClientSession() as session:
            _, before = await get_json(session, f"{gateway.url}/{key}/before")
            assert before["ret"] == 0
            await proxy.cut()
            status, during = await get_json(session, f"{gateway.url}/{key}/during")
            assert (status, during["ret"]) == (503, 102), during
            status, ready = await get_json(session, f"{gateway.url}/readyz")
            assert status == 503 and ready["store"].startswith("unavailable")
            await proxy.restore()

            async def accepted_again() -> bool:
                _, after = await get_json(session, f"{gateway.url}/{key}/after")
                return bool(after["ret"] == 0)

            await eventually(accepted_again, timeout=30, what="pushes accepted again")
    finally:
        deployment.stop()
        await proxy.stop()
        drop_database(mongo_url, namespace)
        await remove_broker_namespace(amqp_url, f"igot-{namespace}", Settings().bus_retry_delays)
