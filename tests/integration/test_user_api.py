"""The signed-in user's account API, in both modes: the account, its sessions (listed with a label for
the client, its address and times; ended one by one, all others, or by logging out), and no secret kept
readable in the store. The desktop client's calls are replayed in `test_desktop_client.py`."""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymongo
import pytest

from services.auth.data import users
from shared.data import push_ways
from tests.integration.desktop_replay import DESKTOP_AGENT
from tests.integration.signin_rig import MODES, World
from tests.waiting import eventually

pytestmark = pytest.mark.parametrize("mode", MODES)
EMAIL = "owner@example.com"
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def test_account_and_sessions(world: World) -> None:
    web = await world.sign_up(EMAIL, **{"User-Agent": "curl/8.5.0"})
    code = (await world.call("POST", "/open/user/login-code", token=web))["data"]["code"]
    desktop = await world.call(
        "POST", "/open/user/login", json={"code": code}, headers={"User-Agent": DESKTOP_AGENT}
    )
    desktop_token = desktop["data"]["token"]

    for path in ("/open/user/", "/open/user"):
        account = await world.call("GET", path, token=web)
        assert set(account["data"]) == {"id", "email", "key", "createdAt"}
        assert account["data"]["email"] == EMAIL and ISO.match(account["data"]["createdAt"])

    listing = (await world.call("GET", "/open/user/sessions", token=web))["data"]
    assert listing["count"] == 2
    by_client = {session["client"]: session for session in listing["sessions"]}
    assert set(by_client) == {"curl", "iGot desktop"}
    assert by_client["curl"]["current"] is True and by_client["iGot desktop"]["current"] is False
    for session in listing["sessions"]:
        assert set(session) == {"id", "client", "ip", "createdAt", "lastUsed", "current"}
        assert session["ip"] == "127.0.0.1" and ISO.match(session["lastUsed"])
        assert len(session["id"]) == 24
    # Nothing in the listing signs in.
    assert web not in json.dumps(listing) and desktop_token not in json.dumps(listing)

    # End the desktop's session from the web.
    ended = await world.call(
        "POST", f"/open/user/sessions/{by_client['iGot desktop']['id']}/revoke", token=web
    )
    assert ended == {"ret": 0, "data": {}, "errMsg": "success"}
    assert (await world.call("GET", "/open/user/", token=desktop_token))["ret"] == 301
    assert (await world.call("POST", f"/open/user/sessions/{'0' * 24}/revoke", token=web))["ret"] == 203
    assert (await world.call("POST", "/open/user/sessions/not-an-id/revoke", token=web))["ret"] == 202
    # Another user's session is as unknown as one that never was.
    stranger = await world.sign_up("stranger@example.com")
    theirs = (await world.call("GET", "/open/user/sessions", token=stranger))["data"]["sessions"][0]["id"]
    assert (await world.call("POST", f"/open/user/sessions/{theirs}/revoke", token=web))["ret"] == 203
    assert (await world.call("GET", "/open/user/", token=stranger))["ret"] == 0

    # All others at once, then this one by logging out.
    others = [await world.sign_up(EMAIL) for _ in range(2)]
    assert (await world.call("POST", "/open/user/sessions/revoke-others", token=web))["data"] == {
        "revoked": 2
    }
    for token in others:
        assert (await world.call("GET", "/open/user/sessions", token=token))["ret"] == 301
    assert (await world.call("GET", "/open/user/sessions", token=web))["data"]["count"] == 1
    assert (await world.call("POST", "/open/user/logout", token=web))["ret"] == 0
    assert (await world.call("GET", "/open/user/", token=web))["ret"] == 301
    assert (await world.call("POST", "/open/user/logout", token=web))["ret"] == 301
    assert (await world.call("POST", "/open/user/logout"))["ret"] == 300


def _strings(value: Any) -> Iterator[str]:
    """Every text in a stored value: keys and values, and JSON held in a text, walked too."""
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if isinstance(value, str):
        yield value
        if value[:1] in "{[":
            with contextlib.suppress(ValueError):
                yield from _strings(json.loads(value))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _stored_texts(world: World) -> dict[str, list[str]]:
    """Every text the deployment's store holds, by table or collection, read past the store port."""
    env = world.deployment.env
    texts: dict[str, list[str]] = {}
    if env.get("IGOT_MODE") == "distributed":
        client: pymongo.MongoClient[dict[str, Any]]
        with pymongo.MongoClient(env["IGOT_MONGO_URL"]) as client:
            database: pymongo.database.Database[dict[str, Any]] = client[env["IGOT_MONGO_DB"]]
            for name in database.list_collection_names():
                texts[name] = [text for doc in database[name].find({}) for text in _strings(doc)]
        return texts
    with sqlite3.connect(Path(env["IGOT_DATA_DIR"]) / "igot.sqlite3") as connection:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            rows = connection.execute(f'SELECT * FROM "{table}"').fetchall()
            texts[table] = [text for row in rows for cell in row for text in _strings(cell)]
    return texts


async def test_no_secret_is_stored_readable(world: World) -> None:
    secrets: dict[str, str] = {}
    # E-mail sign-in by code, and by link.
    await world.ask_for_mail(EMAIL)
    first = await world.mail(EMAIL)
    secrets["mailed code"] = first.code
    secrets["mailed link"] = first.link.rsplit("/", 1)[1]
    secrets["session token"] = web = (await world.verify(EMAIL, first.code))["data"]["token"]
    await world.ask_for_mail(EMAIL)
    second = await world.mail(EMAIL, 2)
    secrets["unused mailed code"] = second.code
    secrets["unused mailed link"] = second.link.rsplit("/", 1)[1]
    # Login codes, used and not, from the API and the CLI.
    code = (await world.call("POST", "/open/user/login-code", token=web))["data"]["code"]
    secrets["login code"] = code
    secrets["desktop token"] = (await world.call("POST", "/open/user/login", json={"code": code}))["data"][
        "token"
    ]
    secrets["unused login code"] = world.deployment.cli_json("user", "login-code", EMAIL)["code"]
    # A push way's verification link.
    bound = await world.call("POST", "/open/push-way/email/bind", token=web, json={"key": "box@example.com"})
    assert bound["ret"] == 0, bound
    await eventually(lambda: len(world.mails_to("box@example.com")) == 1, what="the verification mail")
    verification = re.search(r"/verify/([A-Za-z0-9_-]+)", world.mails_to("box@example.com")[0].part("plain"))
    assert verification is not None
    secrets["verification link"] = verification.group(1)

    found = {
        (name, table)
        for table, texts in _stored_texts(world).items()
        for name, secret in secrets.items()
        # Short codes must not be a stored value; long secrets must not be inside one either.
        if any(text == secret or (len(secret) > 8 and secret in text) for text in texts)
    }
    assert found == set(), f"secrets stored readable: {sorted(found)}"

    # The one secret kept readable, on purpose: the e-mail way's unsubscribe token, which every mail to
    # the way must carry in its link. Finding it shows the search above reads what the store holds.
    store = world.deployment.open_store()
    try:
        user = await users.get_by_email(store, EMAIL)
        assert user is not None
        ways = await push_ways.get_for_user(store, user["_id"])
        assert ways is not None
        unsubscribe = ways["email"]["unsubscribe"]
    finally:
        await store.close()
    holding = {table for table, texts in _stored_texts(world).items() if unsubscribe in texts}
    assert holding == {push_ways.COLLECTION}
