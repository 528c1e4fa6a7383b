"""The field rules of a push, as a table: input fields → stored body, or the refusal."""

from __future__ import annotations

from typing import Any

import pytest

from services.gateway.push_fields import parse_push
from shared.envelope import ApiError, Ret
from shared.http_json import MAX_DEPTH


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
        # Flags are exactly 0 or 1: no booleans, floats, signs, separators or non-ASCII digits.
        {"content": "c", "automaticallyCopy": True},
        {"content": "c", "automaticallyCopy": False},
        {"content": "c", "automaticallyCopy": 1.0},
        {"content": "c", "automaticallyCopy": "1.0"},
        {"content": "c", "automaticallyCopy": "+1"},
        {"content": "c", "automaticallyCopy": " 1"},
        {"content": "c", "automaticallyCopy": "01"},
        {"content": "c", "automaticallyCopy": "1_0"},
        {"content": "c", "automaticallyCopy": "\u0661"},
        # Non-finite numbers and lone surrogates, wherever they are.
        {"content": float("nan")},
        {"content": "c", "title": float("inf")},
        {"content": "c", "n": float("-inf")},
        {"content": "c", "detail": {"a": [1, float("nan")]}},
        {"content": "\ud800"},
        {"content": "c", "detail": {"\udfff": 1}},
        # Control characters where a field reaches a header, a Bark request or an e-mail subject.
        {"content": "c", "url": "https://example.com/\r\nSet-Cookie: a=b"},
        {"content": "c", "url": "https://example.com/\x00"},
        {"content": "c", "url": "https://exa\tmple.com/"},
        {"content": "c", "title": "subject\r\nBcc: x@example.com"},
        {"content": "c", "title": "a\x00b"},
        {"content": "c", "title": "a\x85b"},
        {"content": "c", "title": "a\u2028b"},
        {"content": "c", "copy": "a\nb"},
        {"content": "c", "copyText": "a\x7fb"},
        {"content": "c", "topic": "ops\n"},
        {"content": "c", "topic": "o\tps"},
        {"content": "c", "idempotencyKey": "k\r\n"},
        {"content": "c\x00"},
        {"content": "c\x1b[31m"},
        {"content": "c\x7f"},
    ],
)
def test_refused_with_invalid_parameter(fields: dict[str, Any]) -> None:
    with pytest.raises(ApiError) as refused:
        parse_push(fields)
    assert refused.value.ret == Ret.INVALID and refused.value.http_status == 400


@pytest.mark.parametrize("header", ["k\x01", "k\n", "k\t", "\ud800", "k" * 129])
def test_idempotency_key_header_is_checked_like_the_field(header: str) -> None:
    with pytest.raises(ApiError):
        parse_push({"content": "c"}, idempotency_header=header)


def test_multi_line_content_tabs_and_exact_flags_are_accepted() -> None:
    push = parse_push({"content": "line 1\r\nline 2\n\tend", "title": "a\tb", "automaticallyCopy": 0})
    assert (push.body.content, push.body.title, push.body.automaticallyCopy) == (
        "line 1\r\nline 2\n\tend",
        "a\tb",
        0,
    )
    assert parse_push({"content": "c", "automaticallyCopy": "1"}).body.automaticallyCopy == 1
    assert parse_push({"content": "c", "automaticallyCopy": "0"}).body.automaticallyCopy == 0


def test_nesting_bound_counts_levels_as_the_body_parser_does() -> None:
    def nested(levels: int) -> dict[str, Any]:
        value: Any = "x"
        for _ in range(levels - 1):  # the fields themselves are the first level
            value = [value]
        return {"content": "c", "deep": value}

    assert parse_push(nested(MAX_DEPTH)).extra
    with pytest.raises(ApiError):
        parse_push(nested(MAX_DEPTH + 1))
