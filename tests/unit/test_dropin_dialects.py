"""The drop-in dialects as tables: a request's fields → the push iGot stores, or the refusal; each
dialect's answers; the body's `format` from native pushes; the client API's HTTP 200 for every refusal."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from services.gateway.compat import bark, pushdeer, serverchan
from services.gateway.compat.fields import headed, lead_line
from services.gateway.inbox_view import render
from services.gateway.push_fields import MAX_TITLE, parse_push
from shared.envelope import ApiError, Ret, invalid, not_found, rate_limited
from shared.http_json import error_response
from shared.messages.push import MessageBody
from shared.models import PushRequest

Fields = dict[str, Any]


def shown(push: PushRequest) -> Fields:
    """The body as stored, and the extra fields."""
    body: Fields = push.body.model_dump()
    if push.extra is not None:
        body["extra"] = json.loads(push.extra)
    return body


def refused(read: Any, fields: Fields) -> str:
    with pytest.raises(ApiError) as refusal:
        read(fields, idempotency_header=None)
    assert (refusal.value.ret, refusal.value.http_status) == (Ret.INVALID, 400)
    return refusal.value.reason


PLAIN: Fields = {"title": "", "url": "", "automaticallyCopy": 1, "copyText": ""}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"title": "T", "desp": "**b**"}, {**PLAIN, "title": "T", "content": "**b**", "format": "markdown"}),
        ({"text": "Old", "desp": "b"}, {**PLAIN, "title": "Old", "content": "b", "format": "markdown"}),
        ({"title": "T", "text": "ignored"}, {**PLAIN, "content": "T"}),
        (
            {"desp": "\n## Disk\nfull"},
            {**PLAIN, "title": "Disk", "content": "\n## Disk\nfull", "format": "markdown"},
        ),
        ({"title": " ", "desp": "d"}, {**PLAIN, "title": "d", "content": "d", "format": "markdown"}),
        (
            {"title": "t", "desp": "d", "short": "s", "channel": 9},
            {
                **PLAIN,
                "title": "t",
                "content": "d",
                "format": "markdown",
                "extra": {"short": "s", "channel": 9},
            },
        ),
        ({"title": "two\nlines", "desp": "d"}, {**PLAIN, "content": "two\nlines\n\nd", "format": "markdown"}),
    ],
)
def test_serverchan_fields(fields: Fields, expected: Fields) -> None:
    assert shown(serverchan.read_push(fields, idempotency_header=None)) == expected


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({}, "title is required"),
        ({"title": "  ", "desp": " "}, "title is required"),
        ({"title": ["x"]}, "title must be text"),
        ({"title": True}, "title must be text"),
        ({"desp": "a\x00b"}, "content must not contain control characters"),
        ({"title": "t", "$gt": "1"}, "field name '$gt' is not allowed"),
    ],
)
def test_serverchan_refusals(fields: Fields, reason: str) -> None:
    assert refused(serverchan.read_push, fields) == reason


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"pushkey": "k", "text": "hi"}, {**PLAIN, "content": "hi", "format": "markdown"}),
        ({"pushkey": "k", "text": "hi", "type": "text"}, {**PLAIN, "content": "hi"}),
        (
            {"pushkey": "k", "text": "T", "desp": "d", "type": "Markdown"},
            {**PLAIN, "title": "T", "content": "d", "format": "markdown"},
        ),
        (
            {"pushkey": "k", "text": " https://e.org/a.png ", "type": "image", "desp": "cat"},
            {
                **PLAIN,
                "content": "https://e.org/a.png",
                "url": "https://e.org/a.png",
                "format": "image",
                "extra": {"desp": "cat"},
            },
        ),
        (
            {"pushkey": "k", "text": "x" * (MAX_TITLE + 1), "desp": "d"},
            {**PLAIN, "content": "x" * (MAX_TITLE + 1) + "\n\nd", "format": "markdown"},
        ),
    ],
)
def test_pushdeer_fields(fields: Fields, expected: Fields) -> None:
    assert shown(pushdeer.read_push(fields, idempotency_header=None)) == expected


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"pushkey": "k"}, "text is required"),
        ({"pushkey": "k", "text": "t", "type": "video"}, "type must be one of: markdown, text, image"),
        (
            {"pushkey": "k", "text": "file:///etc/passwd", "type": "image"},
            "url must be an http or https address",
        ),
        ({"pushkey": "k", "text": "t", "type": 3}, "type must be one of: markdown, text, image"),
    ],
)
def test_pushdeer_refusals(fields: Fields, reason: str) -> None:
    assert refused(pushdeer.read_push, fields) == reason


@pytest.mark.parametrize(
    ("value", "expected"),
    [("a", ["a"]), (" a , b,a,, ", ["a", "b"]), ("a,b,c", ["a", "b", "c"])],
)
def test_push_keys_are_split_once_each(value: str, expected: list[str]) -> None:
    assert pushdeer.read_keys({"pushkey": value}, most=3) == expected


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({}, "pushkey is required"),
        ({"pushkey": " , "}, "pushkey is required"),
        ({"pushkey": 12}, "pushkey must be text"),
        ({"pushkey": "a,b,c,d"}, "at most 3 push keys per request"),
    ],
)
def test_push_key_refusals(fields: Fields, reason: str) -> None:
    with pytest.raises(ApiError) as refusal:
        pushdeer.read_keys(fields, most=3)
    assert refusal.value.reason == reason


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"device_key": "k", "title": "T", "body": "B", "group": "g", "badge": 2},
            {
                **PLAIN,
                "title": "T",
                "content": "B",
                "automaticallyCopy": 0,
                "extra": {"group": "g", "badge": 2},
            },
        ),
        (
            {"Device_Key": "k", "BODY": "B", "autoCopy": "1", "copy": "c", "url": "https://e.org"},
            {**PLAIN, "content": "B", "copyText": "c", "url": "https://e.org"},
        ),
        ({"device_key": "k", "autocopy": 1, "body": "B"}, {**PLAIN, "content": "B"}),
        ({"device_key": "k", "title": "only"}, {**PLAIN, "content": "only", "automaticallyCopy": 0}),
        (
            {"device_key": "k", "subtitle": "sub"},
            {**PLAIN, "content": "sub", "automaticallyCopy": 0, "extra": {"subtitle": "sub"}},
        ),
        (
            {"device_key": "k", "markdown": "**m**", "body": "b"},
            {**PLAIN, "content": "**m**", "automaticallyCopy": 0, "format": "markdown"},
        ),
    ],
)
def test_bark_fields(fields: Fields, expected: Fields) -> None:
    assert shown(bark.read_push(fields, idempotency_header=None)) == expected


def test_bark_keys() -> None:
    assert bark.read_keys({"device_key": " k "}, most=2) == (["k"], False)
    assert bark.read_keys({"DEVICE_KEYS": ["a", "b"], "device_key": "k"}, most=2) == (["a", "b"], True)
    assert bark.read_keys({"device_keys": "a,b"}, most=2) == (["a", "b"], True)
    for fields, reason in (
        ({}, "device key is empty"),
        ({"device_key": ""}, "device key is empty"),
        ({"device_keys": ["a", 1]}, "device_keys must hold text only"),
        ({"device_keys": ["a", "b", "c"]}, "at most 2 push keys per request"),
    ):
        with pytest.raises(ApiError) as refusal:
            bark.read_keys(fields, most=2)
        assert refusal.value.reason == reason


def test_bark_refusals() -> None:
    assert refused(bark.read_push, {"device_key": "k"}) == "body is empty"
    assert refused(bark.read_push, {"device_key": "k", "body": "b", "url": "weixin://x"}) == (
        "url must be an http or https address"
    )


def test_answers_in_each_dialects_shape() -> None:
    message_id = "6b0b0d97ad536848af03b404"
    assert serverchan.accepted(message_id) == {
        "code": 0,
        "message": "",
        "data": {"pushid": message_id, "readkey": "", "error": "SUCCESS", "errno": 0},
    }
    assert serverchan.refused(not_found("unknown push key")) == {
        "code": 40001,
        "message": "[AUTH]unknown push key",
        "info": "unknown push key",
    }
    assert serverchan.refused(invalid("title is required"))["code"] == 20001
    assert serverchan.refused(rate_limited("slow down", retry_after_seconds=3))["code"] == 40003
    assert serverchan.refused(ApiError(Ret.UNAVAILABLE, "later", http_status=503))["code"] == 50001

    answer = pushdeer.accepted([message_id, not_found("unknown push key")])
    assert answer["code"] == 0
    assert [json.loads(result) for result in answer["content"]["result"]] == [
        {"counts": 1, "logs": [], "success": "ok", "id": message_id},
        {"counts": 0, "logs": ["unknown push key"], "success": "failed"},
    ]
    assert pushdeer.refused(ApiError(Ret.KEY_INACTIVE, "push key is paused", http_status=403)) == {
        "code": 80403,
        "error": "push key is paused",
    }
    assert pushdeer.refused(invalid("text is required"))["code"] == 80501
    assert pushdeer.refused(ApiError(Ret.UNAVAILABLE, "later", http_status=503))["code"] == 80999

    success = bark.accepted()
    assert (success["code"], success["message"], type(success["timestamp"])) == (200, "success", int)
    refusal = bark.refused(ApiError(Ret.KEY_INACTIVE, "push key has expired", http_status=410))
    assert (refusal["code"], refusal["message"]) == (410, "push key has expired")
    each = bark.accepted_each(["a", "b"], [message_id, not_found("unknown push key")])
    assert each["data"] == [
        {"code": 200, "device_key": "a"},
        {"code": 404, "device_key": "b", "message": "unknown push key"},
    ]


@pytest.mark.parametrize(
    ("heading", "body", "expected"),
    [
        ("T", "b", {"title": "T", "content": "b"}),
        (" T ", "", {"content": "T"}),
        ("", "b", {"content": "b"}),
        ("", " ", {}),
        ("a\u2028b", "c", {"content": "a\u2028b\n\nc"}),
    ],
)
def test_a_heading_is_the_title_when_it_fits_one(heading: str, body: str, expected: dict[str, str]) -> None:
    assert headed(heading, body) == expected


def test_lead_line() -> None:
    assert lead_line("\n\n  ### Backup done  \nmore") == "Backup done"
    assert lead_line("#\n \n") == ""
    assert lead_line("y" * 1000) == "y" * MAX_TITLE


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"content": "c"}, None),
        ({"content": "c", "format": "text"}, None),
        ({"content": "c", "format": "markdown"}, "markdown"),
    ],
)
def test_native_pushes_may_say_markdown(fields: Fields, expected: str | None) -> None:
    body = parse_push(fields).body.model_dump()
    assert body.get("format") == expected


@pytest.mark.parametrize("value", ["image", "html", "MARKDOWN", 1, ["markdown"]])
def test_native_pushes_refuse_other_formats(value: Any) -> None:
    with pytest.raises(ApiError) as refusal:
        parse_push({"content": "c", "format": value})
    assert refusal.value.reason == "format must be one of: text, markdown"


def test_plain_text_is_left_out_wherever_a_body_is_written() -> None:
    plain = MessageBody(content="c")
    assert "format" not in plain.model_dump() and "format" not in plain.model_dump_json()
    assert MessageBody.model_validate(plain.model_dump()) == plain
    marked = MessageBody(content="c", format="markdown")
    assert MessageBody.model_validate_json(marked.model_dump_json()) == marked
    entry = {"_id": "e", "createdAt": 0}
    assert "format" not in render(entry, {"body": plain.model_dump()})["body"]
    assert render(entry, {"body": marked.model_dump()})["body"]["format"] == "markdown"


@pytest.mark.parametrize(
    ("path", "error", "status"),
    [
        ("/open/message/", not_found(), 200),
        ("/open/anything/else", ApiError(Ret.INVALID, "method not allowed", http_status=405), 200),
        ("/access/message/", rate_limited("slow down", retry_after_seconds=2), 200),
        ("/nothing", not_found(), 404),
        ("/0123456789abcdef01234567", rate_limited("slow down", retry_after_seconds=2), 429),
    ],
)
def test_the_client_api_answers_http_200_for_every_refusal(path: str, error: ApiError, status: int) -> None:
    request = make_mocked_request("GET", path, app=web.Application())
    response = error_response(request, error)
    assert response.status == status
    assert json.loads(response.text or "") == {"ret": int(error.ret), "data": {}, "errMsg": error.reason}
    assert response.headers.get("Retry-After") == error.headers.get("Retry-After")
