"""Drop-in ingress over HTTP, in both run modes: ServerChan, PushDeer and Bark scripts reach the inbox
unchanged but for the host and the key, hear answers in their own shape, and are refused in that shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp

from shared.data import keys
from shared.ids import new_id, now_ms
from tests.integration.conftest import start_standalone
from tests.integration.processes import Deployment
from tests.integration.test_push_flow import inbox, sign_in, wait_for_inbox
from tests.integration.test_semantics import COUNTED, open_store, stored_counts

UNKNOWN_KEY = "0" * 24


async def call(
    session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any
) -> tuple[int, dict[str, Any], str | None]:
    """Status, JSON answer and `Retry-After` of one request."""
    async with session.request(method, url, **kwargs) as response:
        assert response.content_type == "application/json"
        return response.status, await response.json(), response.headers.get("Retry-After")


async def by_id(deployment: Deployment, session: aiohttp.ClientSession, token: str) -> dict[str, Any]:
    shown = (await inbox(deployment, session, token, size=50))["messages"]
    return {message["id"]: message for message in shown}


async def test_each_dialect_delivers_and_answers_in_its_own_shape(deployment: Deployment) -> None:
    key = deployment.cli_json("user", "create", "--email", "dialects@example.com")["key"]
    base = deployment.gateway_url
    async with aiohttp.ClientSession() as session:
        token = await sign_in(deployment, session, "dialects@example.com")

        # ServerChan: title and Markdown `desp`, by GET, JSON (older `text` for the title) and form.
        status, sent, _ = await call(
            session, "GET", f"{base}/{key}.send", params={"title": "Deploy", "desp": "**done**", "short": "s"}
        )
        assert status == 200 and sent["code"] == 0 and sent["message"] == ""
        first = sent["data"]["pushid"]
        assert sent["data"] == {"pushid": first, "readkey": "", "error": "SUCCESS", "errno": 0}
        _, by_json, _ = await call(session, "POST", f"{base}/{key}.send", json={"text": "Old", "desp": "x"})
        _, by_form, _ = await call(session, "POST", f"{base}/{key}.send", data={"desp": "# Heading\nrest"})

        # PushDeer: a Markdown message (its default type), plain text, an image.
        status, pd_markdown, _ = await call(
            session, "GET", f"{base}/message/push", params={"pushkey": key, "text": "T", "desp": "*it*"}
        )
        assert status == 200 and pd_markdown["code"] == 0
        (result,) = pd_markdown["content"]["result"]
        accepted = json.loads(result)
        assert accepted["success"] == "ok" and accepted["counts"] == 1
        image = "https://example.com/cat.png"
        _, pd_text, _ = await call(
            session, "POST", f"{base}/message/push", data={"pushkey": key, "text": "plain", "type": "text"}
        )
        _, pd_image, _ = await call(
            session, "POST", f"{base}/message/push", json={"pushkey": key, "text": image, "type": "image"}
        )

        # Bark: its JSON, options kept as `extra`; the answer is Bark's.
        status, bark, _ = await call(
            session,
            "POST",
            f"{base}/push",
            json={
                "device_key": key,
                "title": "Bark title",
                "body": "Bark body",
                "url": "https://example.com/x",
                "copy": "c0py",
                "autoCopy": "1",
                "group": "ops",
                "sound": "minuet",
            },
        )
        assert status == 200 and set(bark) == {"code", "message", "timestamp"}
        assert (bark["code"], bark["message"]) == (200, "success") and isinstance(bark["timestamp"], int)

        await wait_for_inbox(deployment, session, token, 7)
        shown = await by_id(deployment, session, token)

    def body_of(message_id: str) -> dict[str, Any]:
        body: dict[str, Any] = shown[message_id]["body"]
        return body

    assert body_of(first)["title"] == "Deploy" and body_of(first)["content"] == "**done**"
    assert body_of(first)["format"] == "markdown" and shown[first]["extra"] == {"short": "s"}
    assert (body_of(by_json["data"]["pushid"])["title"], body_of(by_json["data"]["pushid"])["content"]) == (
        "Old",
        "x",
    )
    assert body_of(by_form["data"]["pushid"])["title"] == "Heading"
    markdown_id = accepted["id"]
    assert (body_of(markdown_id)["title"], body_of(markdown_id)["format"]) == ("T", "markdown")
    text_id = json.loads(pd_text["content"]["result"][0])["id"]
    assert body_of(text_id)["content"] == "plain" and "format" not in body_of(text_id)
    image_id = json.loads(pd_image["content"]["result"][0])["id"]
    assert body_of(image_id) | {"automaticallyCopy": 1} == {
        "title": "",
        "content": image,
        "url": image,
        "automaticallyCopy": 1,
        "copyText": "",
        "format": "image",
    }
    (from_bark,) = [m for m in shown.values() if m["body"]["content"] == "Bark body"]
    assert from_bark["body"] == {
        "title": "Bark title",
        "content": "Bark body",
        "url": "https://example.com/x",
        "automaticallyCopy": 1,
        "copyText": "c0py",
    }
    assert from_bark["extra"] == {"group": "ops", "sound": "minuet"}


async def test_several_keys_in_one_request_each_get_a_message(deployment: Deployment) -> None:
    first = deployment.cli_json("user", "create", "--email", "one@example.com")["key"]
    second = deployment.cli_json("user", "create", "--email", "two@example.com")["key"]
    base = deployment.gateway_url
    async with aiohttp.ClientSession() as session:
        status, answer, _ = await call(
            session,
            "GET",
            f"{base}/message/push",
            params={"pushkey": f"{first},{second},{UNKNOWN_KEY},{first}", "text": "to both"},
        )
        assert (status, answer["code"]) == (200, 0)
        results = [json.loads(result) for result in answer["content"]["result"]]
        assert [result["success"] for result in results] == ["ok", "ok", "failed"]
        assert results[2] == {"counts": 0, "logs": ["unknown push key"], "success": "failed"}

        status, batch, _ = await call(
            session,
            "POST",
            f"{base}/push",
            json={"device_keys": [second, UNKNOWN_KEY], "body": "batch"},
        )
        assert (status, batch["code"], batch["message"]) == (200, 200, "success")
        assert batch["data"] == [
            {"code": 200, "device_key": second},
            {"code": 404, "device_key": UNKNOWN_KEY, "message": "unknown push key"},
        ]

        # Every key refused: the request is refused, in PushDeer's shape, with the status of the first.
        status, none, _ = await call(
            session,
            "GET",
            f"{base}/message/push",
            params={"pushkey": f"{UNKNOWN_KEY},{'1' * 24}", "text": "x"},
        )
        assert (status, none) == (404, {"code": 80403, "error": "unknown push key"})

        one = await sign_in(deployment, session, "one@example.com")
        two = await sign_in(deployment, session, "two@example.com")
        await wait_for_inbox(deployment, session, one, 1)
        await wait_for_inbox(deployment, session, two, 2)
        assert [m["body"]["content"] for m in (await inbox(deployment, session, one))["messages"]] == [
            "to both"
        ]


async def test_refusals_keep_the_dialects_shape_and_store_nothing(deployment: Deployment) -> None:
    user = deployment.cli_json("user", "create", "--email", "refused@example.com")
    key = user["key"]
    paused, expired = new_id(), new_id()
    store = open_store(deployment)
    try:
        for value, name in ((paused, "paused link"), (expired, "old link")):
            await keys.insert_temporary(
                store,
                value=value,
                user_id=user["id"],
                name=name,
                link_id=new_id(),
                created_at=now_ms(),
                expires_at=now_ms() + (3_600_000 if value == paused else -1),
            )
        await store.collection(keys.COLLECTION).update_one({"_id": paused}, {"$set": {"status": "paused"}})
    finally:
        await store.close()
    base = deployment.gateway_url
    too_long = "x" * 5000  # over the suite's IGOT_MAX_BODY_BYTES
    serverchan: list[tuple[str, str, dict[str, Any], int, int]] = [
        ("GET", f"/{UNKNOWN_KEY}.send", {"params": {"title": "t"}}, 404, 40001),
        ("GET", "/SCT12345abcdef.send", {"params": {"title": "t"}}, 404, 40001),
        ("GET", f"/{paused}.send", {"params": {"title": "t"}}, 403, 40001),
        ("GET", f"/{expired}.send", {"params": {"title": "t"}}, 410, 40001),
        ("GET", f"/{key}.send", {}, 400, 20001),
        ("GET", f"/{key}.send", {"params": {"title": "a\x01b"}}, 400, 20001),
        (
            "POST",
            f"/{key}.send",
            {"data": b'{"title": ', "headers": {"Content-Type": "application/json"}},
            400,
            20001,
        ),
        ("POST", f"/{key}.send", {"json": {"title": ["not", "text"]}}, 400, 20001),
        ("POST", f"/{key}.send", {"json": {"title": "t", "$where": "1"}}, 400, 20001),
        ("POST", f"/{key}.send", {"data": {"desp": too_long}}, 413, 20001),
    ]
    pushdeer: list[tuple[str, dict[str, Any], int, int]] = [
        ("GET", {"params": {"text": "no key"}}, 400, 80501),
        ("GET", {"params": {"pushkey": key}}, 400, 80501),
        ("GET", {"params": {"pushkey": key, "text": "t", "type": "gif"}}, 400, 80501),
        ("GET", {"params": {"pushkey": key, "text": "javascript:alert(1)", "type": "image"}}, 400, 80501),
        (
            "GET",
            {"params": {"pushkey": ",".join([key] * 3 + [new_id() for _ in range(10)]), "text": "t"}},
            400,
            80501,
        ),
        ("GET", {"params": {"pushkey": paused, "text": "t"}}, 403, 80403),
        ("POST", {"json": {"pushkey": [key], "text": "t"}}, 400, 80501),
        (
            "POST",
            {"data": b"\xff\xfe", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
            400,
            80501,
        ),
    ]
    bark: list[tuple[dict[str, Any], int]] = [
        ({"json": {"body": "no key"}}, 400),
        ({"json": {"device_key": key}}, 400),
        ({"json": {"device_key": UNKNOWN_KEY, "body": "b"}}, 404),
        ({"json": {"device_key": expired, "body": "b"}}, 410),
        ({"json": {"device_key": key, "body": "b", "url": "ftp://example.com"}}, 400),
        ({"data": b"[1, 2]", "headers": {"Content-Type": "application/json"}}, 400),
        ({"json": {"device_keys": [key] * 2 + [new_id() for _ in range(10)], "body": "b"}}, 400),
        ({"data": {"device_key": key, "body": too_long}}, 413),
    ]
    async with aiohttp.ClientSession() as session:
        for method, path, kwargs, status, code in serverchan:
            got_status, answer, _ = await call(session, method, f"{base}{path}", **kwargs)
            assert (got_status, answer["code"]) == (status, code), (path, kwargs, answer)
            assert set(answer) == {"code", "message", "info"} and answer["message"].endswith(answer["info"])
        for method, kwargs, status, code in pushdeer:
            got_status, answer, _ = await call(session, method, f"{base}/message/push", **kwargs)
            assert (got_status, set(answer), answer["code"]) == (status, {"code", "error"}, code), (
                kwargs,
                answer,
            )
        for kwargs, status in bark:
            got_status, answer, _ = await call(session, "POST", f"{base}/push", **kwargs)
            assert (got_status, answer["code"]) == (status, status), (kwargs, answer)
            assert set(answer) == {"code", "message", "timestamp"} and answer["message"]
        # A push is a side effect: HEAD is refused rather than pushing.
        async with session.head(f"{base}/{key}.send", params={"title": "t"}) as response:
            assert response.status == 405
    assert await stored_counts(deployment) == dict.fromkeys(COUNTED, 0)


async def test_rate_limits_answer_in_the_dialects_shape(tmp_path: Path) -> None:
    deployment = await start_standalone(tmp_path, push_rate_per_key="2")
    try:
        key = deployment.cli_json("user", "create", "--email", "limited@example.com")["key"]
        base = deployment.gateway_url
        async with aiohttp.ClientSession() as session:
            for _ in range(2):
                status, _, _ = await call(session, "GET", f"{base}/{key}.send", params={"title": "t"})
                assert status == 200
            status, serverchan, retry = await call(
                session, "GET", f"{base}/{key}.send", params={"title": "t"}
            )
            assert (status, serverchan["code"]) == (429, 40003) and retry is not None and int(retry) >= 1
            status, bark, retry = await call(
                session, "POST", f"{base}/push", json={"device_key": key, "body": "b"}
            )
            assert (status, bark["code"]) == (429, 429) and retry is not None
            status, pushdeer, retry = await call(
                session, "GET", f"{base}/message/push", params={"pushkey": key, "text": "t"}
            )
            assert (status, pushdeer["code"]) == (429, 80501) and retry is not None
    finally:
        exit_codes = deployment.stop()
    assert exit_codes == dict.fromkeys(exit_codes, 0), deployment.logs()
