"""Bark: `POST {server}/push` with the message as Bark's JSON, to the user's Bark server or the default one.

Body `{device_key, title, body, url, copy, autoCopy, group, level, icon}` (empty fields left out, as the
Bark app treats a present key as set). `group` is the iGot app the message came through, or else its
`source`, so the phone stacks one sender's notifications together. Texts are cut to what fits in one
Apple push (4 KB for the whole payload), counted in UTF-8 bytes; a cut text ends with "…". A URL too long
to fit is left out rather than cut, since a cut link leads nowhere.

Bark answers `{"code": <int>, "message": "...", "timestamp": ...}` with the same code as its HTTP status:
200 delivers; 400 (unknown device key, bad parameters) and any other 4xx — its basic-auth refusal is a
418 — fail for good; 429 is throttling (`Retry-After` honoured); 5xx (Apple refused or unreachable),
timeouts and connection errors are transient. A redirect is never followed (the bound server is the only
one we post to) and fails for good, as does a 200 that is not Bark's answer. Only the first few KB of an
answer are read. An address the outbound guard refuses (`shared.outbound`) fails for good.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import aiohttp

from services.dispatcher.channels.base import Channel, Delivery, DeliveryResult
from services.dispatcher.channels.http import CALL_ERRORS, call_failure, read_capped
from shared.data.push_ways import WayTarget
from shared.failures import PermanentError, ThrottledError, TransientError

ANSWER_BYTES = 4096
DEFAULT_RETRY_AFTER = 30.0
DEFAULT_APP = "iGot"
ELLIPSIS = "…"


def fit(text: str, max_bytes: int) -> str:
    """`text` cut to at most `max_bytes` UTF-8 bytes on a character boundary, marked with an ellipsis."""
    data = text.encode()
    if len(data) <= max_bytes:
        return text
    room = max_bytes - len(ELLIPSIS.encode())
    return data[:room].decode("utf-8", "ignore") + ELLIPSIS


def group_of(delivery: Delivery) -> str:
    if delivery.app and delivery.app != DEFAULT_APP:
        return delivery.app
    return delivery.source or delivery.app or DEFAULT_APP


class BarkChannel(Channel):
    name: ClassVar[str] = "bark"
    # UTF-8 bytes: together they stay under Apple's 4 KB payload with room for Bark's own keys.
    max_title: ClassVar[int] = 256
    max_body: ClassVar[int] = 2048
    max_copy: ClassVar[int] = 512
    max_url: ClassVar[int] = 512
    level: ClassVar[str] = "active"
    connect_timeout: ClassVar[float] = 5.0
    total_timeout: ClassVar[float] = 15.0

    def __init__(self, session: aiohttp.ClientSession, *, default_server: str, icon: str = "") -> None:
        self._session = session
        self._default_server = default_server
        self._icon = icon

    def payload(self, target: WayTarget, delivery: Delivery) -> dict[str, Any]:
        body = delivery.body
        fields: dict[str, Any] = {
            "device_key": target.key,
            "title": fit(body.title, self.max_title),
            "body": fit(body.content, self.max_body),
            "url": body.url if len(body.url.encode()) <= self.max_url else "",
            "copy": fit(body.copyText, self.max_copy),
            "autoCopy": "1" if body.automaticallyCopy else "",
            "group": fit(group_of(delivery), 64),
            "level": self.level,
            "icon": self._icon,
        }
        return {key: value for key, value in fields.items() if value}

    def push_url(self, target: WayTarget) -> str:
        return f"{(target.server or self._default_server).rstrip('/')}/push"

    async def send(self, target: WayTarget, delivery: Delivery) -> DeliveryResult:
        body = json.dumps(self.payload(target, delivery), ensure_ascii=False, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json; charset=utf-8"}
        timeout = aiohttp.ClientTimeout(total=self.total_timeout, connect=self.connect_timeout)
        try:
            async with self._session.post(
                self.push_url(target), data=body, headers=headers, timeout=timeout, allow_redirects=False
            ) as response:
                answer = await read_capped(response, ANSWER_BYTES)
                status, retry_after = response.status, response.headers.get("Retry-After")
        except CALL_ERRORS as error:
            raise call_failure(error, "Bark server", timeout=self.total_timeout) from error
        return _result(status, retry_after, answer)


def _result(status: int, retry_after: str | None, answer: bytes) -> DeliveryResult:
    code, said = _bark_answer(answer)
    if status == 200:
        if code == 200:
            return DeliveryResult(way=BarkChannel.name)
        if code is None:
            raise PermanentError("the server answered 200 but not as a Bark server")
        status = code
    if status == 429:
        raise ThrottledError(f"Bark answered 429: {said}", retry_after=_seconds(retry_after))
    if 300 <= status < 500:
        raise PermanentError(f"Bark answered {status}: {said}")
    raise TransientError(f"Bark answered {status}: {said}")


def _bark_answer(answer: bytes) -> tuple[int | None, str]:
    """Bark's `code` and `message`; (None, the start of the text) for anything else."""
    try:
        parsed = json.loads(answer)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("code"), int):
        return parsed["code"], str(parsed.get("message", ""))[:200]
    return None, answer[:200].decode("utf-8", "replace")


def _seconds(retry_after: str | None) -> float:
    try:
        return max(0.0, float(retry_after)) if retry_after else DEFAULT_RETRY_AFTER
    except ValueError:
        return DEFAULT_RETRY_AFTER
