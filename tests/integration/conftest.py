"""Deployments for the integration suite: standalone (one process) and distributed (one per service)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from shared.store import Store
from shared.store.mongo import MongoStore
from shared.store.sqlite import SqliteStore
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

if TYPE_CHECKING:
    from tests.integration.signin_rig import World

MAX_BODY = 4096
RETRY_DELAYS = (0.2, 0.5)


async def start_standalone(workdir: Path, **settings: str) -> Deployment:
    """`igot standalone` with the suite's settings; `settings` (`IGOT_` names in lower case) on top."""
    env = base_env(
        workdir, **{"max_body_bytes": str(MAX_BODY), "bus_retry_delays": json.dumps(RETRY_DELAYS), **settings}
    )
    deployment = Deployment(env=env, gateway_url="", auth_url="", workdir=workdir)
    process = start("standalone", ["standalone"], env, workdir, free_port())
    deployment.processes.append(process)
    deployment.gateway_url = deployment.auth_url = process.url
    await wait_ready(process)
    return deployment


async def start_distributed(
    workdir: Path, amqp_url: str, mongo_url: str, namespace: str, **settings: str
) -> Deployment:
    """`igot serve auth|dispatcher|fanout|moderation|gateway` on RabbitMQ and MongoDB; `settings` on top
    of the suite's. The gateway is started last (tests that stop it take the last process)."""
    env = base_env(
        workdir,
        **{
            **distributed_settings(amqp_url, mongo_url, namespace),
            "bus_retry_delays": json.dumps(RETRY_DELAYS),
            "max_body_bytes": str(MAX_BODY),
            **settings,
        },
    )
    deployment = Deployment(env=env, gateway_url="", auth_url="", workdir=workdir)
    deployment.cli("migrate")
    for service in ("auth", "dispatcher", "fanout", "moderation", "gateway"):
        process = start(service, ["serve", service], env, workdir, free_port())
        deployment.processes.append(process)
    for process in deployment.processes:
        await wait_ready(process)
    deployment.auth_url = deployment.processes[0].url
    deployment.gateway_url = deployment.processes[-1].url
    return deployment


@asynccontextmanager
async def deployed(
    mode: str, tmp_path: Path, amqp_url: str, mongo_url: str, namespace: str, **settings: str
) -> AsyncIterator[Deployment]:
    """A deployment of `mode` with `settings` on top of the suite's, stopped and cleaned up after."""
    if mode == "standalone":
        running = await start_standalone(tmp_path, **settings)
    else:
        running = await start_distributed(tmp_path, amqp_url, mongo_url, namespace, **settings)
    try:
        yield running
    finally:
        exit_codes = running.stop()
        if mode == "distributed":
            drop_database(mongo_url, namespace)
            await remove_broker_namespace(amqp_url, f"igot-{namespace}", RETRY_DELAYS)
    # SIGTERM drains and exits cleanly: a crash or a hang on the way out is a failure too.
    assert exit_codes == dict.fromkeys(exit_codes, 0), running.logs()


@pytest.fixture(params=["standalone", "distributed"])
async def deployment(
    request: pytest.FixtureRequest, tmp_path: Path, amqp_url: str, mongo_url: str, namespace: str
) -> AsyncIterator[Deployment]:
    async with deployed(request.param, tmp_path, amqp_url, mongo_url, namespace) as running:
        yield running


@pytest.fixture(params=["sqlite", "mongo"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, mongo_url: str, namespace: str
) -> AsyncIterator[Store]:
    """Each store adapter in turn, empty: the SQLite file of standalone mode, a fresh MongoDB database."""
    opened: Store = (
        SqliteStore(tmp_path / "s.sqlite3") if request.param == "sqlite" else MongoStore(mongo_url, namespace)
    )
    try:
        yield opened
    finally:
        await opened.close()
        if request.param == "mongo":
            drop_database(mongo_url, namespace)


@pytest.fixture
async def world(
    mode: str, tmp_path: Path, amqp_url: str, mongo_url: str, namespace: str
) -> AsyncIterator[World]:
    """A deployment with a local SMTP server for sign-in mails, in the `mode` the test module parametrizes
    (`pytestmark = pytest.mark.parametrize("mode", MODES)`)."""
    from tests.integration.signin_rig import running_world  # it builds on this module

    async with running_world(mode, tmp_path, amqp_url, mongo_url, namespace) as running:
        yield running
