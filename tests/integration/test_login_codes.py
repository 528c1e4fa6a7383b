"""Login codes, in both modes: a signed-in client issues one (6 letters and digits, 5 minutes) and a
desktop client signs in with it; the next code ends the previous one and the sessions begun with it, but
no other session; the CLI's codes are 6 characters, and 5-character codes of older releases still sign
in. Revoked and expired tokens answer 301 and 302."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.auth.accounts import CODE_ALPHABET
from services.auth.data import login_codes, users
from shared.data import tokens
from shared.ids import now_ms
from tests.integration.desktop_replay import DESKTOP_AGENT
from tests.integration.signin_rig import MODES, World

pytestmark = pytest.mark.parametrize("mode", MODES)
EMAIL = "codes@example.com"


async def issue(world: World, token: str) -> str:
    answer = await world.call("POST", "/open/user/login-code", token=token)
    assert answer["ret"] == 0, answer
    assert set(answer["data"]) == {"code", "expireAt"}
    code: str = answer["data"]["code"]
    assert len(code) == 6 and set(code) <= set(CODE_ALPHABET)
    expires = datetime.strptime(answer["data"]["expireAt"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert timedelta(minutes=4) < expires - datetime.now(UTC) <= timedelta(minutes=5)
    return code


async def desktop_login(world: World, code: str) -> dict[str, object]:
    return await world.call(
        "POST", "/open/user/login", json={"code": code}, headers={"User-Agent": DESKTOP_AGENT}
    )


async def ret_of(world: World, token: str) -> int:
    ret: int = (await world.call("GET", "/open/user/", token=token))["ret"]
    return ret


async def test_a_new_code_ends_the_previous_code_and_its_sessions_only(world: World) -> None:
    web = await world.sign_up(EMAIL)
    first = await issue(world, web)
    desktop = await desktop_login(world, first)
    assert desktop["ret"] == 0
    desktop_token = desktop["data"]["token"]  # type: ignore[index]
    assert await ret_of(world, desktop_token) == 0
    assert (await desktop_login(world, first))["ret"] == 303  # once

    second = await issue(world, web)
    assert await ret_of(world, desktop_token) == 301
    assert await ret_of(world, web) == 0  # begun by e-mail: not the code's
    unused = await issue(world, web)
    assert (await desktop_login(world, second))["ret"] == 303
    # Upper case is the same code (the desktop client's box takes both).
    again = await desktop_login(world, unused.upper())
    assert again["ret"] == 0
    # A session begun with a code that issues the next code ends itself.
    own = again["data"]["token"]  # type: ignore[index]
    await issue(world, own)
    assert await ret_of(world, own) == 301
    assert await ret_of(world, web) == 0


async def test_cli_codes_legacy_codes_and_expiry(world: World) -> None:
    world.deployment.cli_json("user", "create", "--email", EMAIL)
    printed = world.deployment.cli("user", "login-code", EMAIL)
    code = printed.split()[0]
    assert len(code) == 6 and "valid 5 minutes" in printed
    answer = await desktop_login(world, code)
    assert answer["ret"] == 0
    token = answer["data"]["token"]  # type: ignore[index]

    store = world.deployment.open_store()
    try:
        user = await users.get_by_email(store, EMAIL)
        assert user is not None
        # A code of an older release: 5 characters, no id.
        await login_codes.insert(store, code="h3k9m", user_id=user["_id"], expires_at=now_ms() + 60_000)
        legacy = await desktop_login(world, "H3K9M")
        assert legacy["ret"] == 0
        legacy_token = legacy["data"]["token"]  # type: ignore[index]
        world.deployment.cli_json("user", "login-code", EMAIL)  # ends both sessions begun with a code
        assert await ret_of(world, token) == 301
        assert await ret_of(world, legacy_token) == 301

        fresh = world.deployment.cli_json("user", "login-code", EMAIL)["code"]
        await store.collection(login_codes.COLLECTION).update_many({}, {"$set": {"expiresAt": now_ms() - 1}})
        assert (await desktop_login(world, fresh))["ret"] == 303

        # An expired session answers 302 (not 301), until it is long gone.
        web = await world.sign_up(EMAIL)
        await store.collection(tokens.COLLECTION).update_many(
            {"_id": tokens.digest(web)}, {"$set": {"expiresAt": now_ms() - 1}}
        )
        assert await ret_of(world, web) == 302
        assert (await world.call("POST", "/open/user/login-code", token=web))["ret"] == 302
    finally:
        await store.close()


async def test_login_code_needs_a_session_and_bad_codes_are_refused(world: World) -> None:
    assert (await world.call("POST", "/open/user/login-code"))["ret"] == 300
    assert (await world.call("POST", "/open/user/login-code", token="f" * 32))["ret"] == 301
    for body, ret in (
        ({}, 304),
        ({"code": ""}, 304),
        ({"code": 123456}, 303),
        ({"code": ["abc234"]}, 303),
        ({"code": "x" * 500}, 303),
        ({"code": "zzzzzz"}, 303),
    ):
        answer = await world.call("POST", "/open/user/login", json=body)
        assert (answer["ret"], answer["data"]) == (ret, {}), (body, answer)
