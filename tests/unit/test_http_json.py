"""Request bodies and URLs become fields under one set of rules; answers are always valid JSON."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request

from services.gateway.inbox_view import render
from shared.envelope import ApiError, Ret
from shared.http_json import (
    MAX_DEPTH,
    body_fields,
    dumps,
    form_fields,
    json_envelope,
    json_object,
    url_fields,
)
from shared.metrics import Metrics
from shared.web import METRICS, SERVICE, envelope_middleware

BODY_LIMIT = 16384


def refusal(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ApiError) as refused:
        call(*args, **kwargs)
    assert refused.value.ret == Ret.INVALID and refused.value.http_status == 400
    return refused.value.reason


@pytest.mark.parametrize(
    "raw",
    [
        b'{"content":"x","n":NaN}',
        b'{"content":"x","n":Infinity}',
        b'{"content":"x","n":-Infinity}',
        b'{"content":"x","d":{"e":[1,{"f":NaN}]}}',
        b'{"content":"x","n":1e400}',
        b'{"content":"x","n":-1e400}',
    ],
)
def test_non_finite_numbers_are_refused_anywhere(raw: bytes) -> None:
    assert "finite" in refusal(json_object, raw) or "out of range" in refusal(json_object, raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 10000 + b"]" * 10000,
        b'{"content":"x","d":' + b"[" * 10000 + b"]" * 10000 + b"}",
        b'{"content":"x","d":' + b'{"e":' * 10000 + b"1" + b"}" * 10001,
        b'{"a":' * (MAX_DEPTH + 1) + b"1" + b"}" * (MAX_DEPTH + 1),
    ],
)
def test_deep_nesting_is_refused_before_parsing(raw: bytes) -> None:
    assert refusal(json_object, raw) == f"payload nests deeper than {MAX_DEPTH} levels"


def test_nesting_up_to_the_bound_and_brackets_inside_strings_are_fine() -> None:
    deepest = b'{"a":[' * (MAX_DEPTH // 2) + b"1" + b"]}" * (MAX_DEPTH // 2)
    assert json_object(deepest)["a"][0]["a"]
    brackets = '"' + "[{" * 5000 + '\\"' + "[" * 100 + '"'
    assert json_object(f'{{"content":{brackets}}}'.encode())["content"].startswith("[{[{")


@pytest.mark.parametrize(
    "raw",
    [
        b'{"content":"\\ud800"}',
        b'{"content":"a\\udfffb"}',
        b'{"\\udc00":"x","content":"y"}',
        b'{"content":"x","d":["\\ude00"]}',
        b'{"content":"\xed\xa0\x80"}',  # a surrogate encoded as UTF-8 bytes, which UTF-8 forbids
        b'{"content":"\xff"}',
    ],
)
def test_lone_surrogates_and_bytes_that_are_not_utf8_are_refused(raw: bytes) -> None:
    refusal(json_object, raw)


def test_paired_surrogate_escapes_are_one_character() -> None:
    assert json_object(b'{"content":"\\ud83d\\ude00"}') == {"content": "\U0001f600"}


@pytest.mark.parametrize("text", ["content=%ff%fe", "content=ok&title=%ed%a0%80", "content=%c3"])
def test_form_escapes_that_are_not_utf8_are_refused(text: str) -> None:
    assert "UTF-8" in refusal(form_fields, text, strict=True)


def test_form_keeps_the_first_value_and_raw_utf8() -> None:
    assert form_fields("content=h%C3%A9&content=2&title=é+x", strict=True) == {
        "content": "hé",
        "title": "é x",
    }
    assert form_fields("flag&content=x", strict=False) == {"flag": "", "content": "x"}
    refusal(form_fields, "flag&content=x", strict=True)


@pytest.mark.parametrize(
    "path", ["/k/hello?title=%ff", "/k/%ff%fe", "/k/t/%ed%a0%80", "/k?content=%e4%bd", "/k/x?a=1&b=%80"]
)
def test_urls_that_are_not_utf8_once_decoded_are_refused(path: str) -> None:
    assert "UTF-8" in refusal(url_fields, make_mocked_request("GET", path))


def test_url_fields_decode_the_query() -> None:
    request = make_mocked_request("GET", "/k/%E4%BD%A0?title=%E4%BD%A0&title=2&url=https%3A%2F%2Fx&flag")
    assert url_fields(request) == {"title": "你", "url": "https://x", "flag": ""}


def test_answers_refuse_non_finite_numbers() -> None:
    with pytest.raises(ValueError):
        dumps({"n": float("nan")})
    with pytest.raises(ValueError):
        json_envelope({"n": [float("inf")]})
    assert dumps({"n": 1.5, "t": "é"}) == '{"n":1.5,"t":"é"}'


def test_messages_stored_with_non_finite_numbers_still_answer_valid_json() -> None:
    entry = {"_id": "e", "createdAt": 1575017083430}
    message = {"body": {"content": "x"}, "extra": '{"n":NaN,"d":[Infinity,-Infinity]}'}
    shown = json.loads(dumps(render(entry, message)))
    assert shown["extra"] == {"n": "NaN", "d": ["Infinity", "-Infinity"]}


async def echo_fields(request: web.Request) -> web.Response:
    return json_envelope({"fields": await body_fields(request)})


async def non_finite_answer(request: web.Request) -> web.Response:
    return json_envelope({"n": float("nan")})


@pytest.fixture
async def client() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    """A real HTTP server with the envelope middleware, answering with the fields of what it was sent."""
    app = web.Application(middlewares=[envelope_middleware], client_max_size=BODY_LIMIT)
    app[SERVICE] = "test"
    app[METRICS] = Metrics()
    app.router.add_post("/fields", echo_fields)
    app.router.add_get("/nan", non_finite_answer)
    async with TestClient(TestServer(app)) as running:
        yield running


async def test_a_non_finite_answer_is_a_logged_server_error(
    client: TestClient[web.Request, web.Application],
) -> None:
    with structlog.testing.capture_logs() as logs:
        response = await client.get("/nan")
        text = await response.text()
    assert response.status == 500
    assert json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} on the wire"))["ret"] == 201
    assert any(entry["event"] == "unexpected error" and entry["log_level"] == "error" for entry in logs)


def multipart(*parts: bytes, boundary: bytes = b"b0undary") -> bytes:
    body = b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts)
    return body + b"--" + boundary + b"--\r\n"


NAMED = b'Content-Disposition: form-data; name="content"\r\n'
FORM = "multipart/form-data; boundary=b0undary"


@pytest.mark.parametrize(
    ("content_type", "body", "reason"),
    [
        ("multipart/form-data", multipart(NAMED + b"\r\nhi"), "multipart body is malformed"),
        ("multipart/form-data; boundary=other", multipart(NAMED + b"\r\nhi"), "multipart body is malformed"),
        (FORM, b"no boundary anywhere", "multipart body is malformed"),
        (FORM, b"--b0undary\r\n" + NAMED + b"\r\nhi, and then the body ends", "multipart body is malformed"),
        (FORM, b"--b0undary\r\nContent-Disposition: form-da", "multipart part has no form-data name"),
        (FORM, multipart(b"Content-Type: text/plain\r\n\r\nhi"), "multipart part has no form-data name"),
        (
            FORM,
            multipart(b"Content-Disposition: form-data\r\n\r\nhi"),
            "multipart part has no form-data name",
        ),
        (
            FORM,
            multipart(b'Content-Disposition: form-data; name="content"; filename="a.txt"\r\n\r\nhi'),
            "field 'content' must be text, not a file",
        ),
        (FORM, multipart(NAMED + b"\r\n\xff\xfe"), "field 'content' is not valid UTF-8"),
        (FORM, multipart(NAMED + b"\r\n\xed\xa0\x80"), "field 'content' is not valid UTF-8"),
        (
            FORM,
            multipart(NAMED + b"Content-Type: text/plain; charset=latin-1\r\n\r\n\xff"),
            "field 'content' must be UTF-8",
        ),
        (
            FORM,
            multipart(NAMED + b"Content-Transfer-Encoding: base64\r\n\r\naGk="),
            "field 'content' uses an encoding forms do not have",
        ),
        (
            FORM,
            multipart(NAMED + b"Content-Type: multipart/mixed; boundary=in\r\n\r\n--in\r\n\r\nhi\r\n--in--"),
            "multipart parts must not nest",
        ),
        (FORM, b"--b0undary\r\n" + b"X-Long: " + b"h" * 9000 + b"\r\n\r\nhi", "multipart body is malformed"),
        (
            "application/x-www-form-urlencoded",
            b"content=%ff%fe",
            "form field is not UTF-8 once percent-decoded",
        ),
        ("application/x-www-form-urlencoded", b"content=\xff", "body is not valid UTF-8"),
        ("application/json", b'{"content":"x","n":NaN}', "numbers must be finite: NaN is not JSON"),
        (
            "application/json",
            b'{"content":"\\ud800"}',
            "text holds a lone surrogate escape, which is not a character",
        ),
        ("application/json", b"[" * 2000 + b"]" * 2000, f"payload nests deeper than {MAX_DEPTH} levels"),
    ],
)
async def test_bad_bodies_are_clear_refusals(
    client: TestClient[web.Request, web.Application], content_type: str, body: bytes, reason: str
) -> None:
    response = await client.post("/fields", data=body, headers={"Content-Type": content_type})
    assert (response.status, await response.json()) == (400, {"ret": 202, "data": {}, "errMsg": reason})


async def test_good_multipart_and_form_bodies_still_read(
    client: TestClient[web.Request, web.Application],
) -> None:
    body = multipart(
        NAMED + b"\r\nh\xc3\xa9\r\nline 2", b'Content-Disposition: form-data; name="title"\r\n\r\nt'
    )
    response = await client.post("/fields", data=body, headers={"Content-Type": FORM})
    assert (await response.json())["data"] == {"fields": {"content": "hé\r\nline 2", "title": "t"}}
    response = await client.post(
        "/fields",
        data=b"content=h%C3%A9",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (await response.json())["data"] == {"fields": {"content": "hé"}}


async def test_oversize_multipart_is_413(client: TestClient[web.Request, web.Application]) -> None:
    body = multipart(NAMED + b"\r\n" + b"x" * (BODY_LIMIT * 2))

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit holds while reading too
        for start in range(0, len(body), 1024):
            yield body[start : start + 1024]

    for data in (body, chunks()):
        response = await client.post("/fields", data=data, headers={"Content-Type": FORM})
        assert (response.status, (await response.json())["ret"]) == (413, 202)
