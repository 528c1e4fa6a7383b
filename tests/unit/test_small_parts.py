"""Small pure pieces: time format, ids, topic matching, the envelope."""

from __future__ import annotations

import pytest

from shared.bus.port import topic_matches
from shared.envelope import ApiError, Ret, envelope, error_envelope
from shared.ids import is_hex24, new_id, new_push_key
from shared.timefmt import iso_ms


def test_create_time_is_the_seed_format() -> None:
    assert iso_ms(1575017083430) == "2019-11-29T08:44:43.430Z"
    assert iso_ms(1575017083005) == "2019-11-29T08:44:43.005Z"


def test_ids_are_24_hex_unique_and_time_ordered() -> None:
    ids = [new_id() for _ in range(1000)]
    assert all(is_hex24(i) for i in ids) and len(set(ids)) == 1000
    assert ids[0][:8] <= ids[-1][:8]
    keys = {new_push_key() for _ in range(100)}
    assert len(keys) == 100 and all(is_hex24(k) for k in keys)
    assert not is_hex24("A" * 24) and not is_hex24("a" * 23)


@pytest.mark.parametrize(
    ("pattern", "key", "matches"),
    [
        ("message.accepted.v1", "message.accepted.v1", True),
        ("message.*.v1", "message.accepted.v1", True),
        ("message.*", "message.accepted.v1", False),
        ("message.#", "message.accepted.v1", True),
        ("#", "a", True),
        ("#.v1", "v1", True),
        ("a.#.z", "a.z", True),
        ("a.#.z", "a.b.c.z", True),
        ("a.*.z", "a.z", False),
    ],
)
def test_topic_matching(pattern: str, key: str, matches: bool) -> None:
    assert topic_matches(pattern, key) is matches


def test_envelopes() -> None:
    assert envelope({"id": "x"}) == {"ret": 0, "data": {"id": "x"}, "errMsg": "success"}
    refusal = ApiError(Ret.NOT_FOUND, "unknown push key", http_status=404)
    assert error_envelope(refusal) == {"ret": 203, "data": {}, "errMsg": "unknown push key"}
