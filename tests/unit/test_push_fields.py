"""The field rules of a push, as a table: input fields → stored body, or the refusal."""

from __future__ import annotations

from typing import Any

import pytest

from services.gateway.push_fields import parse_push
from shared.envelope import ApiError, Ret


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"content": "hi"},
            {"title": "", "content": "hi", "url": "", "automaticallyCopy": 1, "copyText": ""},
        ),
        (
            {"content": 42, "title": 3.5},
            {"title": "3.5", "content": "42", "url": "", "automaticallyCopy": 1, "copyText": ""},
        ),
        (
            {"content": "c", "copy": "x", "automaticallyCopy": "0"},
            {"title": "", "content": "c", "url": "", "automaticallyCopy": 0, "copyText": "x"},
        ),
        (
            {"content": "c", "copyText": "y"},
            {"title": "", "content": "c", "url": "", "automaticallyCopy": 1, "copyText": "y"},
        ),
        (
            {"content": "c", "url": "https://example.com/a?b=1"},
            {
                "title": "",
                "content": "c",
                "url": "https://example.com/a?b=1",
                "automaticallyCopy": 1,
                "copyText": "",
            },
        ),
    ],
)
def test_body_fields(fields: dict[str, Any], expected: dict[str, Any]) -> None:
    assert parse_push(fields).body.model_dump() == expected


def test_other_fields_become_extra_json_and_known_ones_do_not() -> None:
    push = parse_push({"content": "c", "topic": "ops", "detail": {"a.b": [1, {"c": None}]}, "n": 1})
    assert push.extra == '{"detail":{"a.b":[1,{"c":null}]},"n":1}'
    assert push.topic == "ops"
    assert parse_push({"content": "c"}).extra is None


def test_idempotency_key_header_wins_over_field() -> None:
    assert parse_push({"content": "c", "idempotencyKey": "f"}).idempotency_key == "f"
    assert parse_push({"content": "c", "idempotencyKey": "f"}, idempotency_header="h").idempotency_key == "h"


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"content": ""},
        {"content": "  \n"},
        {"content": None},
        {"content": True},
        {"content": ["a"]},
        {"content": {"$ne": None}},
        {"content": "c", "title": {"x": 1}},
        {"content": "c", "extra": {"nested": [{"$gt": 1}]}},
        {"content": "c", "$where": "1"},
        {"content": "c", "automaticallyCopy": 2},
        {"content": "c", "automaticallyCopy": "yes"},
        {"content": "c", "url": "ftp://x"},
        {"content": "c", "url": "not a url"},
        {"content": "c", "title": "t" * 257},
        {"content": "c", "topic": "t" * 65},
        {"content": "c", "deep": [[[[[[[[[[[[[[[[[["x"]]]]]]]]]]]]]]]]]]},
    ],
)
def test_refused_with_invalid_parameter(fields: dict[str, Any]) -> None:
    with pytest.raises(ApiError) as refused:
        parse_push(fields)
    assert refused.value.ret == Ret.INVALID and refused.value.http_status == 400
