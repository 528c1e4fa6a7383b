"""Bad input of every kind gets a clear envelope with the right `ret` and status, and stores nothing."""

from __future__ import annotations

import aiohttp
from yarl import URL

from shared.data import inbox as inbox_entries
from shared.data import messages, outbox
from tests.integration.conftest import MAX_BODY
from tests.integration.processes import Deployment
from tests.integration.test_push_flow import get_json, inbox, post_json, sign_in, wait_for_inbox


async def stored_counts(deployment: Deployment) -> dict[str, int]:
    """How many documents the deployment's own store holds in each collection a push writes."""
    store = deployment.open_store()
    try:
        return {
            name: await store.collection(name).count({})
            for name in (messages.COLLECTION, outbox.COLLECTION, inbox_entries.COLLECTION)
        }
    finally:
        await store.close()


def raw(url: str | URL, body: bytes, content_type: str = "application/json") -> dict[str, object]:
    """A request sent byte for byte as written, with the given Content-Type."""
    return {"url": url, "data": body, "headers": {"Content-Type": content_type}}


def multipart(*parts: bytes, boundary: bytes = b"b0undary") -> bytes:
    body = b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts)
    return body + b"--" + boundary + b"--\r\n"


CONTENT_PART = b'Content-Disposition: form-data; name="content"\r\n'
MULTIPART = "multipart/form-data; boundary=b0undary"
FORM = "application/x-www-form-urlencoded"
NESTED = 2000  # deep enough to exhaust the parser's recursion, small enough to stay under MAX_BODY


def malformed_input_cases(base: str, key: str) -> list[tuple[str, str, dict[str, object], int, int]]:
    """Bodies, URLs and fields no parser or store should ever see: each a 400 with `ret 202`."""
    push = f"{base}/{key}"
    cases: list[tuple[str, str, dict[str, object]]] = [
        ("NaN", "POST", raw(push, b'{"content":"x","n":NaN}')),
        ("Infinity nested", "POST", raw(push, b'{"content":"x","d":{"e":[1,Infinity]}}')),
        ("-Infinity", "POST", raw(push, b'{"content":"x","n":-Infinity}')),
        ("overflowing number", "POST", raw(push, b'{"content":"x","n":1e400}')),
        ("deep arrays", "POST", raw(push, b"[" * NESTED + b"]" * NESTED)),
        ("deep field", "POST", raw(push, b'{"content":"x","d":' + b"[" * NESTED + b"]" * NESTED + b"}")),
        ("lone surrogate", "POST", raw(push, b'{"content":"\\ud800"}')),
        ("lone surrogate key", "POST", raw(push, b'{"content":"x","\\udc00":1}')),
        ("surrogate as UTF-8 bytes", "POST", raw(push, b'{"content":"\xed\xa0\x80"}')),
        (
            "multipart without boundary",
            "POST",
            raw(push, multipart(CONTENT_PART + b"\r\nx"), "multipart/form-data"),
        ),
        (
            "multipart with another boundary",
            "POST",
            raw(push, multipart(CONTENT_PART + b"\r\nx"), "multipart/form-data; boundary=other"),
        ),
        ("multipart truncated", "POST", raw(push, b"--b0undary\r\n" + CONTENT_PART + b"\r\nx", MULTIPART)),
        (
            "multipart without Content-Disposition",
            "POST",
            raw(push, multipart(b"Content-Type: text/plain\r\n\r\nx"), MULTIPART),
        ),
        (
            "multipart file",
            "POST",
            raw(
                push,
                multipart(b'Content-Disposition: form-data; name="content"; filename="a"\r\n\r\nx'),
                MULTIPART,
            ),
        ),
        ("multipart not UTF-8", "POST", raw(push, multipart(CONTENT_PART + b"\r\n\xff\xfe"), MULTIPART)),
        ("form escapes not UTF-8", "POST", raw(push, b"content=%ff%fe", FORM)),
        ("form surrogate escape", "POST", raw(push, b"content=%ed%a0%80", FORM)),
        ("form bytes not UTF-8", "POST", raw(push, b"content=\xff", FORM)),
        ("query not UTF-8", "GET", {"url": URL(f"{push}/x?title=%ff", encoded=True)}),
        ("query not UTF-8 on POST", "POST", raw(URL(f"{push}?title=%ff", encoded=True), b'{"content":"x"}')),
        ("path not UTF-8", "GET", {"url": URL(f"{push}/%ff%fe", encoded=True)}),
        ("path NUL", "GET", {"url": URL(f"{push}/a%00b", encoded=True)}),
        ("copy flag true", "POST", raw(push, b'{"content":"x","automaticallyCopy":true}')),
        ("copy flag 1.0", "POST", raw(push, b'{"content":"x","automaticallyCopy":1.0}')),
        ("copy flag +1", "POST", raw(push, b'{"content":"x","automaticallyCopy":"+1"}')),
        ("copy flag 1_0", "POST", raw(push, b'{"content":"x","automaticallyCopy":"1_0"}')),
        (
            "copy flag Arabic-Indic one",
            "POST",
            raw(push, '{"content":"x","automaticallyCopy":"\u0661"}'.encode()),
        ),
        ("copy flag in query", "GET", {"url": f"{push}/x?automaticallyCopy=%2B1"}),
        ("url CRLF", "POST", raw(push, b'{"content":"x","url":"https://x/\\r\\nSet-Cookie: a=b"}')),
        ("url NUL", "POST", raw(push, b'{"content":"x","url":"https://x/\\u0000"}')),
        ("title LF", "POST", raw(push, b'{"content":"x","title":"a\\nBcc: x@example.com"}')),
        ("title CR in query", "GET", {"url": URL(f"{push}/x?title=a%0Db", encoded=True)}),
        ("copy NUL", "POST", raw(push, b'{"content":"x","copy":"a\\u0000"}')),
        ("topic LF", "POST", raw(push, b"content=x&topic=a%0Ab", FORM)),
        ("idempotency key CR", "POST", raw(push, b'{"content":"x","idempotencyKey":"k\\r"}')),
        ("content NUL", "POST", raw(push, b'{"content":"a\\u0000b"}')),
        ("content escape", "POST", raw(push, b'{"content":"a\\u001bb"}')),
    ]
    return [(name, method, request, 400, 202) for name, method, request in cases]


async def test_refusals_are_clear_and_store_nothing(deployment: Deployment) -> None:
    key = deployment.cli_json("user", "create", "--email", "bad@example.com")["key"]
    base = deployment.gateway_url
    async with aiohttp.ClientSession() as session:
        cases: list[tuple[str, str, dict[str, object], int, int]] = [
            *malformed_input_cases(base, key),
            ("unknown key", "GET", {"url": f"{base}/{'0' * 24}/hello"}, 404, 203),
            ("not a key", "GET", {"url": f"{base}/nope/hello"}, 404, 203),
            (
                "empty content",
                "POST",
                {"url": f"{base}/{key}", "json": {"title": "t", "content": ""}},
                400,
                202,
            ),
            ("missing content", "POST", {"url": f"{base}/{key}", "json": {"title": "t"}}, 400, 202),
            ("blank content", "POST", {"url": f"{base}/{key}", "json": {"content": "   "}}, 400, 202),
            (
                "bad JSON",
                "POST",
                {"url": f"{base}/{key}", "data": b"{nope", "headers": {"Content-Type": "application/json"}},
                400,
                202,
            ),
            ("JSON array", "POST", {"url": f"{base}/{key}", "json": ["content"]}, 400, 202),
            (
                "operator as content",
                "POST",
                {"url": f"{base}/{key}", "json": {"content": {"$ne": None}}},
                400,
                202,
            ),
            (
                "operator in extra",
                "POST",
                {"url": f"{base}/{key}", "json": {"content": "x", "who": {"$gt": ""}}},
                400,
                202,
            ),
            (
                "operator key",
                "POST",
                {"url": f"{base}/{key}", "json": {"content": "x", "$where": "1"}},
                400,
                202,
            ),
            (
                "operator in title",
                "POST",
                {"url": f"{base}/{key}", "json": {"content": "x", "title": {"$regex": ".*"}}},
                400,
                202,
            ),
            (
                "bad copy flag",
                "POST",
                {"url": f"{base}/{key}", "json": {"content": "x", "automaticallyCopy": 7}},
                400,
                202,
            ),
            (
                "bad url",
                "POST",
                {"url": f"{base}/{key}", "json": {"content": "x", "url": "javascript:alert(1)"}},
                400,
                202,
            ),
            (
                "oversize body",
                "POST",
                {"url": f"{base}/{key}", "json": {"content": "x" * (MAX_BODY * 2)}},
                413,
                202,
            ),
        ]
        for name, method, request, http_status, ret in cases:
            async with session.request(method, **request) as response:  # type: ignore[arg-type]
                answer = await response.json()
                assert (response.status, answer["ret"]) == (http_status, ret), (name, answer)
                assert answer["errMsg"] and answer["errMsg"] != "success", name
                assert set(answer) == {"ret", "data", "errMsg"}, name
        assert await stored_counts(deployment) == {"messages": 0, "outbox": 0, "inbox": 0}

        # Client API: 200 with the seed's status words.
        _, empty = await get_json(session, f"{base}/open/message/")
        assert empty["ret"] == 300
        _, wrong = await get_json(session, f"{base}/open/message/", params={"token": "f" * 32})
        assert wrong["ret"] == 301
        _, operator = await get_json(session, f"{base}/open/message/?token[$ne]=x")
        assert operator["ret"] == 300
        _, no_code = await post_json(session, f"{deployment.auth_url}/open/user/login", json={})
        assert no_code["ret"] == 304
        _, bad_code = await post_json(
            session, f"{deployment.auth_url}/open/user/login", json={"code": "zzzzz"}
        )
        assert bad_code["ret"] == 303
        _, op_code = await post_json(
            session, f"{deployment.auth_url}/open/user/login", json={"code": {"$ne": None}}
        )
        assert op_code["ret"] == 303

        # Good pushes still work afterwards, in every form, and they are the only messages stored.
        _, good = await get_json(session, f"{base}/{key}/fine")
        assert good["ret"] == 0
        multi_line = multipart(
            CONTENT_PART + b"\r\nmulti\r\npart", b'Content-Disposition: form-data; name="title"\r\n\r\nt'
        )
        for body, content_type in ((multi_line, MULTIPART), ("content=caf%C3%A9+%09+é".encode(), FORM)):
            _, accepted = await post_json(
                session, f"{base}/{key}", data=body, headers={"Content-Type": content_type}
            )
            assert accepted["ret"] == 0, accepted
        token = await sign_in(deployment, session, "bad@example.com")
        _, too_big_page = await get_json(
            session, f"{base}/open/message/", params={"token": token, "size": 51}
        )
        assert too_big_page["ret"] == 202

        await wait_for_inbox(deployment, session, token, 3)
        shown = (await inbox(deployment, session, token))["messages"]
        assert sorted(m["body"]["content"] for m in shown) == ["café \t é", "fine", "multi\r\npart"]
        assert (await stored_counts(deployment))["messages"] == 3


async def test_new_login_code_revokes_old_code_and_its_tokens(deployment: Deployment) -> None:
    deployment.cli_json("user", "create", "--email", "codes@example.com")
    async with aiohttp.ClientSession() as session:
        old_token = await sign_in(deployment, session, "codes@example.com")
        unused = deployment.cli_json("user", "login-code", "codes@example.com")["code"]
        # Issuing another code: the unused one and the old token stop working.
        new_token = await sign_in(deployment, session, "codes@example.com")
        _, old = await get_json(
            session, f"{deployment.gateway_url}/open/message/", params={"token": old_token}
        )
        assert old["ret"] == 301
        _, reused = await post_json(session, f"{deployment.auth_url}/open/user/login", json={"code": unused})
        assert reused["ret"] == 303
        _, fresh = await get_json(
            session, f"{deployment.gateway_url}/open/message/", params={"token": new_token}
        )
        assert fresh["ret"] == 0
