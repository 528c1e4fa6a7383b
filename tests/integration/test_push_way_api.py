"""The push-way API as a client uses it, in both run modes: listing, order, bind, verify, unbind.

A webhook way goes the whole way: bound through the API, its verification arrives at a local receiver
over the bus and the dispatcher, the link in it verifies the way, and pushes reach it signed with the
secret the bind showed once. The store is read and edited directly only where a client cannot see or
wait: the link stored as a digest, time moved on past a link's 24 hours or a resend limit.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from services.auth.data import verifications
from services.auth.login_limiter import LoginLimiter
from services.auth.sweeper import EXPIRED_LINKS_KEPT_MS, SENDS_KEPT_MS, ExpirySweeper
from shared.data import push_ways
from shared.envelope import Ret
from shared.store import Store
from shared.store.mongo import MongoStore
from shared.store.sqlite import SqliteStore
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.integration.conftest import RETRY_DELAYS
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
from tests.integration.test_push_flow import get_json, post_json, sign_in
from tests.waiting import eventually

DEFAULT_ORDER = ["bark", "email", "wechat", "webhook"]
LINK = re.compile(r"https?://[^\s\"'<>]+/verify/[A-Za-z0-9_-]{43}")
HOUR_MS = 3600 * 1000


async def start_deployment(
    mode: str, workdir: Path, infra: tuple[str, str, str], **settings: str
) -> Deployment:
    """A deployment whose links point at the process that answers them (`IGOT_PUBLIC_URL`)."""
    amqp_url, mongo_url, namespace = infra
    names = ["standalone"] if mode == "standalone" else ["auth", "dispatcher", "gateway"]
    ports = {name: free_port() for name in names}
    public = f"http://127.0.0.1:{ports[names[0]]}"
    shared = {"bus_retry_delays": json.dumps(RETRY_DELAYS), "public_url": public, **settings}
    if mode == "distributed":
        shared.update(distributed_settings(amqp_url, mongo_url, namespace))
    env = base_env(workdir, **shared)
    deployment = Deployment(env=env, gateway_url=public, auth_url=public, workdir=workdir)
    if mode == "distributed":
        deployment.cli("migrate")
    for name in names:
        args = ["standalone"] if mode == "standalone" else ["serve", name]
        deployment.processes.append(start(name, args, env, workdir, ports[name]))
    for process in deployment.processes:
        await wait_ready(process)
    deployment.gateway_url = deployment.processes[-1].url
    return deployment


@asynccontextmanager
async def running(
    request: pytest.FixtureRequest, tmp_path: Path, infra: tuple[str, str, str], **settings: str
) -> AsyncIterator[Deployment]:
    deployment = await start_deployment(request.param, tmp_path, infra, **settings)
    try:
        yield deployment
    finally:
        exit_codes = deployment.stop()
        if request.param == "distributed":
            drop_database(infra[1], infra[2])
            await remove_broker_namespace(infra[0], f"igot-{infra[2]}", RETRY_DELAYS)
    assert exit_codes == dict.fromkeys(exit_codes, 0), deployment.logs()


@pytest.fixture(params=["standalone", "distributed"])
async def guarded(
    request: pytest.FixtureRequest, tmp_path: Path, amqp_url: str, mongo_url: str, namespace: str
) -> AsyncIterator[Deployment]:
    """Outbound calls to public addresses only, as shipped; Bark's own server is the operator's."""
    settings = {"allow_private_targets": "false", "bark_server": f"http://127.0.0.1:{free_port()}"}
    async with running(request, tmp_path, (amqp_url, mongo_url, namespace), **settings) as deployment:
        yield deployment


@pytest.fixture(params=["standalone", "distributed"])
async def local_targets(
    request: pytest.FixtureRequest, tmp_path: Path, amqp_url: str, mongo_url: str, namespace: str
) -> AsyncIterator[Deployment]:
    """Private targets allowed, for receivers on this machine."""
    infra = (amqp_url, mongo_url, namespace)
    async with running(request, tmp_path, infra, allow_private_targets="true") as deployment:
        yield deployment


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    hook = WebhookReceiver("not known before the bind")
    await hook.start()
    yield hook
    await hook.stop()


@asynccontextmanager
async def store_of(deployment: Deployment) -> AsyncIterator[Store]:
    """The deployment's own store, opened beside its processes."""
    env = deployment.env
    store: Store = (
        MongoStore(env["IGOT_MONGO_URL"], env["IGOT_MONGO_DB"])
        if env.get("IGOT_MODE") == "distributed"
        else SqliteStore(deployment.workdir / "data" / "igot.sqlite3")
    )
    try:
        yield store
    finally:
        await store.close()


class Client:
    """A signed-in user of the push-way API."""

    def __init__(
        self, deployment: Deployment, session: aiohttp.ClientSession, user: dict[str, str], token: str
    ) -> None:
        self.deployment, self.session, self.token = deployment, session, token
        self.user_id, self.push_key = user["id"], user["key"]

    async def call(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        url, params = f"{self.deployment.auth_url}/open/push-way/{path}", {"token": self.token}
        status, answer = await (
            get_json(self.session, url, params=params)
            if body is None and path == ""
            else post_json(self.session, url, params=params, json=body or {})
        )
        assert status == 200, answer
        return answer

    async def ways(self) -> dict[str, Any]:
        answer = await self.call("")
        assert answer["ret"] == Ret.OK, answer
        shown: dict[str, Any] = answer["data"]["pushWay"]
        return shown

    async def rets(self, *calls: tuple[str, dict[str, Any] | None]) -> list[int]:
        return [(await self.call(path, body))["ret"] for path, body in calls]


@asynccontextmanager
async def client_of(deployment: Deployment, email: str) -> AsyncIterator[Client]:
    user = deployment.cli_json("user", "create", "--email", email)
    async with aiohttp.ClientSession() as session:
        yield Client(deployment, session, user, await sign_in(deployment, session, email))


async def move_sends_back(deployment: Deployment, user_id: str, by_ms: int) -> None:
    """As if the way's verifications had been sent `by_ms` earlier: its resend limit has passed."""
    async with store_of(deployment) as store:
        sends = store.collection(verifications.SENDS)
        for send in await sends.find({"userId": user_id}):
            await sends.update_one({"_id": send["_id"]}, {"$set": {"at": send["at"] - by_ms}})


async def test_a_new_user_sees_every_way_unbound_and_sets_their_order(guarded: Deployment) -> None:
    async with client_of(guarded, "order@example.com") as client:
        unbound = {"key": "", "status": 0}
        assert await client.ways() == {**dict.fromkeys(DEFAULT_ORDER, unbound), "orders": DEFAULT_ORDER}
        refused: list[dict[str, Any]] = [
            {"orders": ["bark", "fax"]},
            {"orders": ["email", "email"]},
            {"orders": []},
            {"orders": "email,bark"},
            {},
        ]
        assert await client.rets(*[("orders", body) for body in refused]) == [Ret.INVALID] * len(refused)
        assert (await client.ways())["orders"] == DEFAULT_ORDER
        assert await client.rets(("orders", {"orders": ["webhook", "email", "bark", "wechat"]})) == [Ret.OK]
        assert (await client.ways())["orders"] == ["webhook", "email", "bark", "wechat"]
        # A partial order is kept as sent; the ways it leaves out follow in the default order.
        assert await client.rets(("orders", {"orders": ["wechat", "email"]})) == [Ret.OK]
        assert (await client.ways())["orders"] == ["wechat", "email", "bark", "webhook"]
        async with aiohttp.ClientSession() as anonymous:
            _, answer = await get_json(anonymous, f"{guarded.auth_url}/open/push-way/")
        assert answer["ret"] == Ret.TOKEN_EMPTY


async def test_addresses_igot_must_not_call_or_cannot_use_are_refused(guarded: Deployment) -> None:
    refused = [
        ("email", "not-an-address"),
        ("email", "a@b.com\r\nBcc: everyone@example.com"),
        ("email", "Name <me@example.com>"),
        ("bark", "no spaces allowed"),
        ("bark", "https://api.day.app/"),  # a push URL without a device key
        ("bark", "https://127.0.0.1/F8QabcdefghijkVue/"),
        ("bark", "https://api.day.app@127.0.0.1/F8QabcdefghijkVue/"),
        ("webhook", "http://example.com/hook"),  # plain http
        ("webhook", "https://127.0.0.1/hook"),
        ("webhook", "https://169.254.169.254/latest/meta-data/"),
        ("webhook", "https://localhost:8443/hook"),  # a name that resolves to loopback
        ("webhook", "https://[::1]/hook"),
        ("webhook", "https://10.1.2.3/hook"),
        ("webhook", ""),
    ]
    async with client_of(guarded, "ssrf@example.com") as client:
        for way, key in refused:
            answer = await client.call(f"{way}/bind", {"key": key})
            assert answer["ret"] == Ret.INVALID and answer["data"] == {}, (way, key, answer)
        assert (
            "public address" in (await client.call("webhook/bind", {"key": "https://localhost/"}))["errMsg"]
        )
        assert (await client.ways())["webhook"] == {"key": "", "status": 0}
        async with store_of(guarded) as store:
            assert await store.collection(verifications.COLLECTION).count({"userId": client.user_id}) == 0
            assert await store.collection(verifications.SENDS).count({"userId": client.user_id}) == 0


async def test_state_rules_and_the_resend_limit(guarded: Deployment) -> None:
    async with client_of(guarded, "rules@example.com") as client:
        # Unbound: nothing to unbind or verify.
        assert await client.rets(("bark/unbind", None), ("bark/verify", None)) == [Ret.WRONG_STATE] * 2
        assert await client.rets(("wechat/unbind", None)) == [Ret.WRONG_STATE]
        assert await client.rets(("bark/bind", {"key": "F8QabcdefghijkVue"})) == [Ret.OK]
        assert (await client.ways())["bark"] == {"key": "F8Q****Vue", "status": 1}
        # Bound: no second bind; a verification went out moments ago, so sending another waits.
        assert await client.rets(("bark/bind", {"key": "OtherKey1234"})) == [Ret.WRONG_STATE]
        limited = await client.call("bark/verify")
        assert limited["ret"] == Ret.RATE_LIMITED and re.search(r"try again in \d+ s", limited["errMsg"])
        await move_sends_back(guarded, client.user_id, 2 * 60 * 1000)
        assert await client.rets(("bark/verify", None)) == [Ret.OK]
        async with store_of(guarded) as store:
            links = store.collection(verifications.COLLECTION)
            assert await links.count({"userId": client.user_id, "way": "bark"}) == 2
            assert await client.rets(("bark/unbind", None)) == [Ret.OK]
            # Unbound: key gone, its links dead.
            assert await links.count({"userId": client.user_id, "way": "bark"}) == 0
        assert (await client.ways())["bark"] == {"key": "", "status": 0}
        assert await client.rets(("bark/unbind", None), ("bark/verify", None)) == [Ret.WRONG_STATE] * 2
        # Binding again sends a verification too, so it waits behind the one just sent.
        assert await client.rets(("bark/bind", {"key": "F8QabcdefghijkVue"})) == [Ret.RATE_LIMITED]
        assert (await client.ways())["bark"]["status"] == 0
        # Past the interval but at the daily cap (10 a day by default): still refused.
        async with store_of(guarded) as store:
            for hours in range(1, 11):
                await verifications.record_send(
                    store, user_id=client.user_id, way="bark", at_ms=int(time.time() * 1000) - hours * HOUR_MS
                )
        await move_sends_back(guarded, client.user_id, 2 * 60 * 1000)
        assert await client.rets(("bark/bind", {"key": "F8QabcdefghijkVue"})) == [Ret.RATE_LIMITED]
        # Other ways have limits of their own.
        assert await client.rets(("email/bind", {"key": "Myself@Example.com"})) == [Ret.OK]
        assert (await client.ways())["email"] == {"key": "my****@example.com", "status": 1}


async def test_a_webhook_is_bound_verified_by_its_link_and_receives_pushes(
    local_targets: Deployment, receiver: WebhookReceiver
) -> None:
    deployment = local_targets
    async with client_of(deployment, "hook@example.com") as client:
        bound = await client.call("webhook/bind", {"key": receiver.url})
        assert bound["ret"] == Ret.OK, bound
        secret = bound["data"]["secret"]
        assert set(bound["data"]) == {"secret"} and len(secret) >= 22  # at least 128 random bits
        shown = await client.ways()
        assert shown["webhook"] == {"key": f"http://127.0.0.1:{receiver.port}/****", "status": 1}
        assert secret not in json.dumps(await client.call(""))  # shown once, never listed
        first_link = await wait_for_link(receiver, 1)

        async with store_of(deployment) as store:
            doc = await push_ways.get_for_user(store, client.user_id)
            assert doc is not None and doc["webhook"]["secret"] == secret
            (record,) = await store.collection(verifications.COLLECTION).find({"userId": client.user_id})
            token = first_link.rsplit("/", 1)[1]
            assert record["_id"] == hashlib.sha256(token.encode()).hexdigest()
            assert token not in json.dumps(record)
            assert record["expiresAt"] - record["createdAt"] == 24 * HOUR_MS
            # A day later the link has expired.
            await store.collection(verifications.COLLECTION).update_one(
                {"_id": record["_id"]}, {"$set": {"expiresAt": record["createdAt"] - 1}}
            )
        assert await follow(client.session, first_link) == (410, "Link expired")
        assert (await client.ways())["webhook"]["status"] == 1

        await move_sends_back(deployment, client.user_id, 2 * 60 * 1000)
        assert await client.rets(("webhook/verify", None)) == [Ret.OK]
        link = await wait_for_link(receiver, 2)
        assert link != first_link
        # A double click: one visit verifies, the other hears the link was used.
        visits = await asyncio.gather(follow(client.session, link), follow(client.session, link))
        assert sorted(visits) == [(200, "Verified"), (410, "Link already used")]
        assert (await client.ways())["webhook"]["status"] == 2
        assert await follow(client.session, link) == (410, "Link already used")
        assert await follow(client.session, link[:-4] + "AAAA") == (404, "Unknown link")
        async with client.session.head(link) as response:
            assert response.status == 405  # HEAD changes nothing

        # Verified: no bind, no verification; a push arrives signed with the secret shown once.
        assert (
            await client.rets(("webhook/bind", {"key": receiver.url}), ("webhook/verify", None))
            == [Ret.WRONG_STATE] * 2
        )
        receiver.secret = secret
        async with client.session.get(f"{deployment.gateway_url}/{client.push_key}/ring") as response:
            pushed = (await response.json())["data"]["id"]
        await eventually(lambda: pushed in receiver.ids(), timeout=30, what="the push at the webhook")
        assert [r.signature_valid for r in receiver.requests if r.body["id"] == pushed] == [True]

        assert await client.rets(("webhook/unbind", None)) == [Ret.OK]
        assert (await client.ways())["webhook"] == {"key": "", "status": 0}
        async with store_of(deployment) as store:
            doc = await push_ways.get_for_user(store, client.user_id)
            assert doc is not None and "secret" not in doc["webhook"]


async def test_the_unsubscribe_link_of_an_email_way_unbinds_it(guarded: Deployment) -> None:
    async with client_of(guarded, "mail@example.com") as client:
        assert await client.rets(("email/bind", {"key": "inbox@example.com"})) == [Ret.OK]
        async with store_of(guarded) as store:
            doc = await push_ways.get_for_user(store, client.user_id)
        assert doc is not None
        link = f"{guarded.auth_url}/unsubscribe/{doc['email']['unsubscribe']}"
        async with client.session.get(link) as response:
            page = await response.text()
            assert response.status == 200 and "in****@example.com" in page and 'method="post"' in page
        assert (await client.ways())["email"]["status"] == 1
        async with client.session.post(link, data={"List-Unsubscribe": "One-Click"}) as response:
            assert response.status == 200 and "Unsubscribed" in await response.text()
        assert (await client.ways())["email"] == {"key": "", "status": 0}
        async with client.session.post(link, data={"List-Unsubscribe": "One-Click"}) as response:
            assert response.status == 404
        async with client.session.get(f"{guarded.auth_url}/unsubscribe/{'x' * 32}") as response:
            assert response.status == 404 and response.content_type == "text/html"


async def wait_for_link(receiver: WebhookReceiver, count: int) -> str:
    """The verification link in the `count`-th request the webhook received."""
    await eventually(lambda: len(receiver.requests) >= count, timeout=30, what=f"verification {count}")
    found = LINK.findall(json.dumps(receiver.requests[count - 1].body))
    assert found, receiver.requests[count - 1].body
    return str(found[0])


async def follow(session: aiohttp.ClientSession, link: str) -> tuple[int, str]:
    """Open a link as a browser would: its status and the page's heading."""
    async with session.get(link) as response:
        page = await response.text()
        assert response.content_type == "text/html" and "<script" not in page
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        heading = re.search(r"<h1>(.*?)</h1>", page)
        return response.status, heading.group(1) if heading else page


async def test_the_sweeper_removes_links_a_week_past_expiry_and_sends_a_day_old(store: Store) -> None:
    now = int(time.time() * 1000)
    links = {"stale": now - EXPIRED_LINKS_KEPT_MS - 1, "expired": now - 1, "live": now + HOUR_MS}
    for token, expires_at in links.items():
        await verifications.insert(
            store, token=token, user_id="u", way="bark", key="k", created_at=now, expires_at=expires_at
        )
        record = await verifications.get_by_token(store, token)
        assert record is not None and await verifications.mark_used(store, token, record)
        assert not await verifications.mark_used(store, token, record)  # a link is used once
    old = await verifications.record_send(store, user_id="u", way="bark", at_ms=now - SENDS_KEPT_MS - 1)
    recent = await verifications.record_send(store, user_id="u", way="bark", at_ms=now - HOUR_MS)
    assert await ExpirySweeper(store, LoginLimiter(store)).sweep_once() == 3
    kept = [await verifications.get_by_token(store, token) is not None for token in links]
    assert kept == [False, True, True]
    assert [await verifications.is_used(store, token) for token in links] == [False, True, True]
    sends = await verifications.sends_since(store, "u", "bark", 0)
    assert [send["_id"] for send in sends] == [recent] and old != recent
