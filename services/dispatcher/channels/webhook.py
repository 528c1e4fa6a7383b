"""Webhook: `POST` the message as JSON to the user's URL, signed so the receiver can trust it.

Body `{id, title, content, url, copy, extra, source, topic, createTime}`; headers `X-Igot-Timestamp` (unix
seconds) and `X-Igot-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" keyed with the way's
secret>`. Signing the timestamp with the body lets a receiver refuse replays of an old request.

A 2xx answer delivers; 429 is throttling (`Retry-After` honoured); any other 4xx, and every redirect
(never followed: the verified URL is the only one we post to), fail for good; 5xx, timeouts and
connection errors are transient. Only the first few KB of an answer are read.

Targets on private, loopback and link-local addresses are refused when the URL is bound, and again by
the outbound guard when connecting (`shared.outbound`): such a refusal fails the way for good.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import ClassVar

import aiohttp

from services.dispatcher.channels.base import Channel, Delivery, DeliveryResult
from services.dispatcher.channels.http import CALL_ERRORS, call_failure, read_capped
from shared.data import messages
from shared.data.push_ways import WayTarget
from shared.failures import PermanentError, ThrottledError, TransientError
from shared.timefmt import iso_ms

TIMESTAMP_HEADER = "X-Igot-Timestamp"
SIGNATURE_HEADER = "X-Igot-Signature"
ANSWER_BYTES = 4096
DEFAULT_RETRY_AFTER = 30.0


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def payload(delivery: Delivery) -> bytes:
    body = delivery.body
    return json.dumps(
        {
            "id": delivery.message_id,
            "title": body.title,
            "content": body.content,
            "url": body.url,
            "copy": body.copyText,
            "extra": messages.parse_extra(delivery.extra),
            "source": delivery.source,
            "topic": delivery.topic,
            "createTime": iso_ms(delivery.created_at),
        },
        ensure_ascii=False,
        separators=(",", ":"),
        allow_nan=False,
    ).encode()


class WebhookChannel(Channel):
    name: ClassVar[str] = "webhook"
    connect_timeout: ClassVar[float] = 5.0
    total_timeout: ClassVar[float] = 15.0

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def send(self, target: WayTarget, delivery: Delivery) -> DeliveryResult:
        if not target.secret:
            raise PermanentError("webhook has no signing secret")
        body = payload(delivery)
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(target.secret, timestamp, body),
        }
        timeout = aiohttp.ClientTimeout(total=self.total_timeout, connect=self.connect_timeout)
        try:
            async with self._session.post(
                target.key, data=body, headers=headers, timeout=timeout, allow_redirects=False
            ) as response:
                answer = await read_capped(response, ANSWER_BYTES)
                status, retry_after = response.status, response.headers.get("Retry-After")
        except CALL_ERRORS as error:
            raise call_failure(error, "webhook", timeout=self.total_timeout) from error
        return _result(status, retry_after, answer)


def _result(status: int, retry_after: str | None, answer: bytes) -> DeliveryResult:
    said = answer[:200].decode("utf-8", "replace")
    if 200 <= status < 300:
        return DeliveryResult(way=WebhookChannel.name)
    if status == 429:
        raise ThrottledError(f"webhook answered 429: {said}", retry_after=_seconds(retry_after))
    if 300 <= status < 500:
        raise PermanentError(f"webhook answered {status}: {said}")
    raise TransientError(f"webhook answered {status}: {said}")


def _seconds(retry_after: str | None) -> float:
    try:
        return max(0.0, float(retry_after)) if retry_after else DEFAULT_RETRY_AFTER
    except ValueError:
        return DEFAULT_RETRY_AFTER
