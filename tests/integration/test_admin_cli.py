"""`igot user list|disable|enable|delete` against a running server, in both run modes: a disabled user's
key is refused (204 / HTTP 403) by the running gateway, enabled it pushes again, deleted it is gone (410);
and what an operator may type wrong: clear errors, exit code 2 for usage errors, never a traceback.

The server caches keys far longer than the test waits, so a change can only reach it by the command's
announcement: the standalone bus carries it between processes through the SQLite file within a poll
(about a second), RabbitMQ at once.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.integration.conftest import deployed
from tests.integration.processes import IGOT, Deployment, base_env
from tests.waiting import eventually

# Longer than any wait below: only an announcement can change what the gateway thinks of a key.
KEY_CACHE_SECONDS = "600"
ANNOUNCED_WITHIN_SECONDS = 10


def run_cli(env: dict[str, str], workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command as an operator runs it from a script: no terminal on stdin."""
    return subprocess.run(
        [*IGOT, *args],
        env=env,
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(params=["standalone", "distributed"])
async def deployment(
    request: pytest.FixtureRequest, tmp_path: Path, amqp_url: str, mongo_url: str, namespace: str
) -> AsyncIterator[Deployment]:
    settings = {"key_cache_ttl_seconds": KEY_CACHE_SECONDS}
    async with deployed(request.param, tmp_path, amqp_url, mongo_url, namespace, **settings) as running:
        yield running


async def push(session: aiohttp.ClientSession, deployment: Deployment, key: str) -> tuple[int, int]:
    async with session.post(f"{deployment.gateway_url}/{key}", json={"content": "hi"}) as response:
        answer: dict[str, Any] = await response.json()
        return response.status, answer["ret"]


async def answered(
    session: aiohttp.ClientSession, deployment: Deployment, key: str, expected: tuple[int, int]
) -> None:
    async def holds() -> bool:
        return await push(session, deployment, key) == expected

    await eventually(holds, timeout=ANNOUNCED_WITHIN_SECONDS, what=f"pushes answered {expected}")


async def test_disable_enable_and_delete_reach_the_running_server(deployment: Deployment) -> None:
    bob = deployment.cli_json("user", "create", "--email", "bob@example.com")
    carol = deployment.cli_json("user", "create", "--email", "carol@example.com")
    async with aiohttp.ClientSession() as session:
        assert await push(session, deployment, bob["key"]) == (200, 0)  # the gateway caches the key now

        assert "disabled" in deployment.cli("user", "disable", "bob@example.com")
        await answered(session, deployment, bob["key"], (403, 204))
        assert "disabled already" in deployment.cli("user", "disable", bob["id"])

        listed = {user["email"]: user for user in json.loads(deployment.cli("user", "list", "--json"))}
        assert listed["bob@example.com"]["status"] == "disabled"
        assert listed["carol@example.com"]["status"] == "active"
        assert listed["bob@example.com"]["id"] == bob["id"]
        assert listed["bob@example.com"]["key"] == bob["key"][:4] + "****"
        table = deployment.cli("user", "list")
        assert table.splitlines()[0].split() == ["id", "email", "status", "createdAt", "key"]
        assert "disabled" in table and bob["key"] not in table and carol["key"] not in table
        assert bob["key"] in deployment.cli("user", "list", "--show-keys")

        assert "enabled" in deployment.cli("user", "enable", bob["id"])
        await answered(session, deployment, bob["key"], (200, 0))

        assert await push(session, deployment, carol["key"]) == (200, 0)
        assert "deleted" in deployment.cli("user", "delete", "carol@example.com", "--yes")
        await answered(session, deployment, carol["key"], (410, 204))
        listed = {user["email"]: user for user in json.loads(deployment.cli("user", "list", "--json"))}
        assert listed["carol@example.com"]["status"] == "deleting"

    refused = run_cli(deployment.env, deployment.workdir, "user", "enable", "carol@example.com")
    assert refused.returncode == 1 and "being deleted" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_operator_mistakes_get_clear_errors(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    for args, code, words in (
        (("user", "disable"), 2, "EMAIL|ID"),
        (("user", "list", "--bogus"), 2, "unrecognized arguments"),
        (("user", "frobnicate", "x"), 2, "invalid choice"),
        (("user", "delete", "a@example.com"), 2, "--yes"),
        (("user", "disable", "nobody@example.com"), 1, "no such user"),
        (("user", "enable", "0" * 24), 1, "no such user"),
        (("user", "delete", "nobody@example.com", "--yes"), 1, "no such user"),
    ):
        result = run_cli(env, tmp_path, *args)
        assert result.returncode == code, (args, result.stderr)
        assert words in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr and result.stdout == "", (args, result.stderr)
    # An empty store lists nobody.
    assert json.loads(run_cli(env, tmp_path, "user", "list", "--json").stdout) == []
