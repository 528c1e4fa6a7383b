"""Abuse and secrets, through real processes in both modes: sign-in throttling kept in the store, the
client address behind a proxy, secrets at rest and in logs, what answers without auth, slow clients,
protocol errors, and ids that reveal no volume."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import stat
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from services.auth import accounts
from services.auth.data import login_codes
from shared.store import Store
from tests.integration.conftest import start_standalone
from tests.integration.processes import Deployment, Process, base_env, free_port, start, wait_ready

LOGIN = "/open/user/login"


async def post_json(url: str, payload: dict[str, Any], **headers: str) -> tuple[dict[str, Any], Any]:
    async with aiohttp.ClientSession() as session, session.post(url, json=payload, headers=headers) as r:
        return await r.json(content_type=None), r.headers


async def failed_sign_in(url: str, **headers: str) -> tuple[int, Any]:
    answer, response_headers = await post_json(url + LOGIN, {"code": "zzzzz"}, **headers)
    return answer["ret"], response_headers


async def tuned(deployment: Deployment, name: str, **settings: str) -> Process:
    """One more process answering sign-in, with `settings` on top: in distributed mode an auth process
    on the deployment's store, in standalone mode a standalone process with a store of its own."""
    extra = {f"IGOT_{key.upper()}": value for key, value in settings.items()}
    if deployment.env.get("IGOT_MODE") == "distributed":
        process = start(name, ["serve", "auth"], {**deployment.env, **extra}, deployment.workdir, free_port())
    else:
        workdir = deployment.workdir / name
        workdir.mkdir()
        env = {**base_env(workdir), **extra}
        process = start(name, ["standalone"], env, workdir, free_port())
    deployment.processes.append(process)  # stopped, and its exit code checked, with the deployment
    await wait_ready(process)
    return process


async def raw_http(url: str, request: bytes, *, timeout: float = 10.0) -> bytes:
    """Send bytes as they are and read the answer until the server closes the connection."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()


def gateway_process(deployment: Deployment) -> Process:
    (process,) = [p for p in deployment.processes if p.name in ("gateway", "standalone")]
    return process


def log_events(process: Process) -> list[dict[str, Any]]:
    """Every line of the process's log, parsed: a line that is not one JSON event fails the test."""
    return [json.loads(line) for line in process.log().splitlines() if line.strip()]


# -- sign-in throttling --------------------------------------------------------------------------------


async def test_sign_in_throttle_holds_across_processes_and_restarts(deployment: Deployment) -> None:
    for _ in range(10):
        assert (await failed_sign_in(deployment.auth_url))[0] == 303
    ret, headers = await failed_sign_in(deployment.auth_url)
    assert ret == 205
    assert 1 <= int(headers["Retry-After"]) <= 60
    # Another process, and a restarted one, read the same failures from the store.
    if deployment.env.get("IGOT_MODE") == "distributed":
        other = start("auth-2", ["serve", "auth"], deployment.env, deployment.workdir, free_port())
        deployment.processes.append(other)
    else:
        assert deployment.processes[0].stop() == 0
        other = start("standalone-2", ["standalone"], deployment.env, deployment.workdir, free_port())
        deployment.processes[0] = other
    await wait_ready(other)
    assert (await failed_sign_in(other.url))[0] == 205


async def test_global_budget_ipv6_prefix_and_forwarded_for(deployment: Deployment) -> None:
    server = await tuned(
        deployment,
        "tuned-auth",
        trusted_proxies='["127.0.0.1/32"]',
        login_failures_per_client="3",
        login_failures_global="8",
    )

    async def attempt(forwarded_for: str) -> int:
        return (await failed_sign_in(server.url, **{"X-Forwarded-For": forwarded_for}))[0]

    # One IPv6 client is its /64: rotating addresses inside it does not reset the count.
    assert [await attempt(f"2001:db8:1:2::{i}") for i in (1, 2, 3, 4)] == [303, 303, 303, 205]
    assert await attempt("2001:db8:1:3::1") == 303
    # Behind the trusted proxy the client is the hop the proxy wrote, not what the client claims.
    assert [await attempt(f"1.1.1.{i}, 198.51.100.50") for i in (1, 2, 3, 4)] == [303, 303, 303, 205]
    # Failures so far: 3 + 1 + 3 = 7 of the 8 the whole server allows per minute.
    assert await attempt("203.0.113.1") == 303
    ret, headers = await failed_sign_in(server.url, **{"X-Forwarded-For": "192.0.2.77"})
    assert ret == 205 and int(headers["Retry-After"]) >= 1


async def test_login_codes_are_stored_as_digests(store: Store) -> None:
    await accounts.create_user(store, "me@example.com")
    code = await accounts.issue_login_code(store, "me@example.com", ttl_seconds=300)
    (stored,) = await store.collection(login_codes.COLLECTION).find({})
    assert stored["_id"] == hashlib.sha256(code.encode()).hexdigest()
    assert code not in json.dumps(stored)
    assert await accounts.login(store, code.upper(), token_ttl_seconds=60)
    assert await store.collection(login_codes.COLLECTION).count({}) == 0


# -- secrets at rest and in logs ----------------------------------------------------------------------


async def test_standalone_store_is_readable_by_its_user_alone(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir(mode=0o755)
    (tmp_path / "data").chmod(0o755)
    deployment = await start_standalone(tmp_path)
    try:
        deployment.cli("user", "create", "--email", "me@example.com")
        data = tmp_path / "data"
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        files = list(data.iterdir())
        assert files and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files), files
    finally:
        assert deployment.stop() == {"standalone": 0}


async def test_push_keys_stay_out_of_the_logs(deployment: Deployment) -> None:
    key = deployment.cli_json("user", "create", "--email", "me@example.com")["key"]
    unknown = "feedbeef" * 3
    async with aiohttp.ClientSession() as session:
        for path, status in ((f"/{key}", 400), (f"/{unknown}/hello", 404), (f"/{key}/a/b/c/d", 404)):
            async with session.get(deployment.gateway_url + path) as response:
                assert response.status == status, path
    gateway = gateway_process(deployment)
    text = gateway.log()
    assert key not in text and unknown not in text
    paths = {event.get("path") for event in log_events(gateway)}
    assert {f"/{key[:4]}…****", f"/{unknown[:4]}…****/hello"} <= paths


# -- what answers without auth ------------------------------------------------------------------------


async def test_server_header_trace_ids_and_metrics(deployment: Deployment) -> None:
    async with aiohttp.ClientSession() as session:
        for path in ("/healthz", "/no/such/path/here/at/all", "/metrics"):
            async with session.get(deployment.gateway_url + path) as response:
                assert response.headers["Server"] == "iGot", path
        for claimed, kept in (("abc-1.2_3", True), ("x" * 65, False), ("<b>", False)):
            async with session.get(deployment.gateway_url + "/healthz", headers={"X-Trace-Id": claimed}) as r:
                assert (r.headers["X-Trace-Id"] == claimed) is kept, claimed
    server = await tuned(deployment, "metrics-auth", metrics_token="s3cret-metrics")
    async with aiohttp.ClientSession() as session:
        for headers, ret in (({}, 300), ({"Authorization": "Bearer wrong"}, 301)):
            async with session.get(server.url + "/metrics", headers=headers) as response:
                assert response.status == 401
                assert (await response.json())["ret"] == ret
        headers = {"Authorization": "Bearer s3cret-metrics"}
        async with session.get(server.url + "/metrics", headers=headers) as response:
            assert response.status == 200 and "igot_http_requests_total" in await response.text()


# -- slow clients and protocol errors -----------------------------------------------------------------


async def test_slow_clients_are_cut_off(deployment: Deployment) -> None:
    server = await tuned(
        deployment, "impatient", http_header_timeout_seconds="1", http_body_timeout_seconds="1"
    )
    host, port = server.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    closed = False
    for byte in b"X-Trickle: " + b"a" * 100:  # a byte every 0.1 s: the header would take 11 s
        try:
            writer.write(bytes([byte]))
            await writer.drain()
        except ConnectionError:
            closed = True
            break
        if reader.at_eof() or await _eof_within(reader, 0.1):
            closed = True
            break
    writer.close()
    assert closed, "a client trickling its headers kept the connection"
    # A body that does not arrive in time is refused with an envelope.
    answer = await raw_http(
        server.url, b'POST /open/user/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"co'
    )
    assert b'"errMsg":"request body too slow"' in answer and b'"ret":202' in answer
    # An ordinary request right after is served.
    async with aiohttp.ClientSession() as session, session.get(server.url + "/healthz") as response:
        assert response.status == 200


async def _eof_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    try:
        return await asyncio.wait_for(reader.read(1), seconds) == b""
    except TimeoutError:
        return False


MANY_HEADERS = b"".join(b"X-%d: 1\r\n" % i for i in range(200))


@pytest.mark.parametrize(
    ("request_bytes", "status", "reason"),
    [
        (b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "request line too long"),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 10_000 + b"\r\n\r\n", 431, "request header"),
        (
            b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(200)) + b"\r\n",
            431,
            "too many",
        ),
        (b"GARBAGE \x01\x02 nonsense\r\n\r\n", 400, "malformed HTTP request"),
    ],
    ids=["long-url", "long-header", "many-headers", "garbage"],
)
async def test_protocol_errors_answer_an_envelope_and_log_one_line(
    deployment: Deployment, request_bytes: bytes, status: int, reason: str
) -> None:
    answer = await raw_http(deployment.gateway_url, request_bytes)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == str(status).encode(), head
    envelope = json.loads(body)
    assert envelope["ret"] == 202 and reason in envelope["errMsg"]
    assert b"aaaa" not in answer and b"bbbb" not in answer and b"GARBAGE" not in answer
    assert b"\r\nServer: iGot\r\n" in head
    gateway = gateway_process(deployment)
    events = log_events(gateway)  # every line one JSON event: no traceback lines
    assert any(e.get("event") == "malformed request refused" and e.get("status") == status for e in events)
    assert "Traceback" not in gateway.log()


# -- ids -------------------------------------------------------------------------------------------------


async def test_push_ids_reveal_no_volume(deployment: Deployment) -> None:
    key = deployment.cli_json("user", "create", "--email", "me@example.com")["key"]
    ids = []
    async with aiohttp.ClientSession() as session:
        for n in range(5):
            async with session.get(f"{deployment.gateway_url}/{key}/n{n}") as response:
                ids.append((await response.json())["data"]["id"])
    tails = [int(message_id[8:], 16) for message_id in ids]
    assert all(abs(b - a) > 2**32 for a, b in itertools.pairwise(tails)), ids
