"""The WeChat callback's pieces: the signature, safe XML, which scene an event names."""

from __future__ import annotations

import pytest

from services.auth.wechat_binding import scene_of
from shared.wechat.callback import (
    MAX_XML_BYTES,
    BadEventError,
    event_xml,
    parse_event,
    signature_holds,
    signature_of,
)


def test_the_signature_is_sha1_of_the_sorted_parts() -> None:
    assert signature_of("abc", "2", "1") == signature_of("abc", "1", "2")
    signature = signature_of("token", "1409304348", "1234567")
    assert signature_holds("token", signature=signature, timestamp="1409304348", nonce="1234567")
    assert signature_holds("token", signature=signature.upper(), timestamp="1409304348", nonce="1234567")
    assert not signature_holds("token", signature=signature, timestamp="1409304349", nonce="1234567")
    assert not signature_holds("other", signature=signature, timestamp="1409304348", nonce="1234567")
    # No token configured: nothing is signed, not even what an empty token would sign.
    empty = signature_of("", "1", "2")
    assert not signature_holds("", signature=empty, timestamp="1", nonce="2")


def test_events_are_read_flat_and_round_trip() -> None:
    fields = {"FromUserName": "oAbc", "MsgType": "event", "Event": "SCAN", "EventKey": "a]]>b"}
    assert parse_event(event_xml(fields)) == fields


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml",
        b"<other><a>1</a></other>",
        b'<!DOCTYPE xml [<!ENTITY a "x">]><xml><A>&a;</A></xml>',
        b'<!DOCTYPE xml SYSTEM "http://example.com/x.dtd"><xml/>',
        b'<!DOCTYPE xml [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><A>&e;</A></xml>',
        b"<xml>" + b"a" * MAX_XML_BYTES + b"</xml>",
        b"<xml>" + b"<A/>" * 100 + b"</xml>",
    ],
)
def test_what_wechat_does_not_send_is_refused(body: bytes) -> None:
    with pytest.raises(BadEventError):
        parse_event(body)


@pytest.mark.parametrize(
    ("event", "scene"),
    [
        ({"Event": "subscribe", "EventKey": "qrscene_abc-_1"}, "abc-_1"),
        ({"Event": "subscribe", "EventKey": ""}, None),  # followed without a code
        ({"Event": "subscribe", "EventKey": "abc"}, None),
        ({"Event": "SCAN", "EventKey": "abc"}, "abc"),
        ({"Event": "SCAN", "EventKey": "a b"}, None),
        ({"Event": "SCAN", "EventKey": "x" * 65}, None),
    ],
)
def test_the_scene_an_event_names(event: dict[str, str], scene: str | None) -> None:
    assert scene_of(event) == scene
