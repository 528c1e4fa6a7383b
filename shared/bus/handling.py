"""What every bus adapter does with one delivered message, kept in one place so the adapters cannot drift.

`handle_delivery` decodes the body into the subscription's model (chosen by the payload's `type` and
`version`, never by the routing key, which changes when a message comes back from a delay queue), binds the
log context, runs the handler and returns the `Disposition`: ack, retry after the next delay, park, or,
for a broadcast subscription (no retries, no parking), drop. The adapter only carries it out: a row of
the queue table or a delay queue, a parked row or a parking queue.

Attempts count from 1: the first delivery is attempt 1, a retry copy carries the next number in
`x-igot-attempt`. With delays `(d1, ..., dn)` a failing message is handled n + 1 times, then parked.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import structlog
from pydantic import ValidationError

from shared.bus.port import (
    ATTEMPT_HEADER,
    ERROR_HEADER,
    MESSAGE_HEADER,
    ROUTING_KEY_HEADER,
    TRACE_HEADER,
    PermanentError,
    Subscription,
    TransientError,
    is_broadcast,
)
from shared.failures import UnavailableError
from shared.logs import get_logger
from shared.messages.base import BusMessage
from shared.metrics import Metrics
from shared.tracing import new_trace_id

# Headers the broker adds on dead-lettering or redelivery: they describe one hop, not the message.
_BROKER_HEADER_PREFIXES = ("x-death", "x-first-death-", "x-last-death-", "x-delivery-count")
MAX_ERROR_CHARS = 1000

log = get_logger(__name__)


class InvalidPayloadError(Exception):
    """The body is not JSON, or does not validate into any model the subscription accepts."""


class Verdict(enum.Enum):
    """The values are the `outcome` label of `igot_bus_consumed`."""

    ACK = "ack"
    RETRY = "retry"
    PARK = "park"
    DROP = "drop"  # a broadcast copy whose handler failed: nobody else needs it, nothing keeps it


@dataclass(frozen=True)
class Disposition:
    """What to do with a delivery. For RETRY and PARK, `headers` are those of the copy to keep."""

    verdict: Verdict
    headers: dict[str, str] = field(default_factory=dict)
    step: int = 0  # RETRY: 1-based index of the delay to wait, so the copy goes to `<queue>.retry.<step>`
    delay: float = 0.0  # RETRY: seconds


ACK = Disposition(Verdict.ACK)
DROP = Disposition(Verdict.DROP)


def count_published(metrics: Metrics | None, routing_key: str) -> None:
    if metrics is not None:
        metrics.bus_published.labels(routing_key=routing_key).inc()


def count_consumed(metrics: Metrics | None, queue: str, disposition: Disposition) -> None:
    if metrics is not None:
        metrics.bus_consumed.labels(queue=queue, outcome=disposition.verdict.value).inc()


def delay_ms_of(message: BusMessage, delay_seconds: float) -> int:
    """A publish's delay in milliseconds; a broadcast is a signal of the present and is never delayed."""
    if not delay_seconds >= 0:  # negative or NaN
        raise ValueError("a publish cannot be delayed by a negative time")
    if delay_seconds and is_broadcast(message):
        raise ValueError("a broadcast cannot be delayed")
    return round(delay_seconds * 1000)


def publish_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """Headers of a fresh publish: the caller's, with a trace id generated when absent."""
    result = {key: str(value) for key, value in (headers or {}).items()}
    if not result.get(TRACE_HEADER):
        result[TRACE_HEADER] = new_trace_id()
    result.pop(ATTEMPT_HEADER, None)
    result.pop(ERROR_HEADER, None)
    return result


def clean_headers(headers: Mapping[str, Any] | None) -> dict[str, str]:
    """Transport headers as plain strings, without the broker's per-hop bookkeeping."""
    result: dict[str, str] = {}
    for key, value in (headers or {}).items():
        if key.startswith(_BROKER_HEADER_PREFIXES):
            continue
        if isinstance(value, bytes):
            result[key] = value.decode("utf-8", "replace")
        elif isinstance(value, str | int | float | bool):
            result[key] = str(value)
    return result


def replay_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers of a parked message sent back to its queue: a fresh attempt count, no error."""
    result = dict(headers)
    result.pop(ATTEMPT_HEADER, None)
    result.pop(ERROR_HEADER, None)
    return result


def attempt_of(headers: Mapping[str, str]) -> int:
    try:
        return max(1, int(headers.get(ATTEMPT_HEADER, "1")))
    except ValueError:
        return 1


def decode(subscription: Subscription, body: bytes) -> BusMessage:
    """The body as the subscription's model for its `type` and `version`; `InvalidPayloadError` if none."""
    try:
        payload = json.loads(body)
    except ValueError as error:
        raise InvalidPayloadError(f"invalid payload: not JSON ({error})") from error
    if not isinstance(payload, dict):
        raise InvalidPayloadError("invalid payload: not a JSON object")
    model = subscription.model_for(payload)
    if model is None:
        raise InvalidPayloadError(
            f"invalid payload: no accepted model for type {payload.get('type')!r} "
            f"version {payload.get('version')!r}"
        )
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        # Only the locations and messages: the input values are message content.
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or '(root)'}: {item['msg']}"
            for item in error.errors(include_url=False, include_input=False)
        )
        raise InvalidPayloadError(f"invalid payload: not a valid {model.__name__}: {problems}") from error


def error_text(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return text[:MAX_ERROR_CHARS]


def _park(headers: dict[str, str], error: str) -> Disposition:
    return Disposition(Verdict.PARK, headers={**headers, ERROR_HEADER: error})


def _retry_or_park(
    headers: dict[str, str], attempt: int, delays: Sequence[float], error: str, *, forever: bool = False
) -> Disposition:
    """The next delay; past the last one the message parks, unless `forever` (a dependency is down): then
    it keeps waiting the longest delay."""
    step = attempt
    if attempt > len(delays):
        if not forever or not delays:
            log.error("message parked after its last attempt", error=error)
            return _park(headers, error)
        step = len(delays)
    delay = float(delays[step - 1])
    copy = {**headers, ATTEMPT_HEADER: str(attempt + 1), ERROR_HEADER: error}
    return Disposition(Verdict.RETRY, headers=copy, step=step, delay=delay)


_ATTEMPT: ContextVar[int] = ContextVar("igot_bus_attempt", default=1)


def current_attempt() -> int:
    """Which try of the bus message being handled this is (1 the first): a handler with a budget of its
    own (e.g. one that gives up quietly instead of parking) reads it here, the same in both adapters."""
    return _ATTEMPT.get()


async def handle_delivery(
    subscription: Subscription,
    *,
    body: bytes,
    headers: Mapping[str, Any] | None,
    routing_key: str,
    delays: Sequence[float],
    transport_id: str | None = None,
) -> Disposition:
    """Decode, validate and handle one delivery with the log context bound; never raises but cancellation."""
    plain = clean_headers(headers)
    plain.setdefault(ROUTING_KEY_HEADER, routing_key)
    attempt = attempt_of(plain)
    _ATTEMPT.set(attempt)  # both adapters handle each delivery in a task of its own: it stays in it
    with structlog.contextvars.bound_contextvars(
        trace_id=plain.get(TRACE_HEADER) or None,
        message_id=plain.get(MESSAGE_HEADER) or transport_id,
        queue=subscription.queue,
        attempt=attempt,
    ):
        if subscription.broadcast:
            return await _handle_copy(subscription, body, routing_key)
        try:
            message = decode(subscription, body)
        except InvalidPayloadError as error:
            log.warning("message parked: invalid payload", error=str(error), routing_key=routing_key)
            return _park(plain, str(error))
        try:
            await subscription.handler(message)
        except PermanentError as error:
            log.warning("message parked: the handler cannot process it", error=error_text(error))
            return _park(plain, error_text(error))
        except TransientError as error:
            forever = isinstance(error, UnavailableError)
            disposition = _retry_or_park(plain, attempt, delays, error_text(error), forever=forever)
            if disposition.verdict is Verdict.RETRY:
                log.warning("handler asked for a retry", error=error_text(error), delay=disposition.delay)
            return disposition
        except Exception as error:
            log.exception("handler failed")
            return _retry_or_park(plain, attempt, delays, error_text(error))
        return ACK


async def _handle_copy(subscription: Subscription, body: bytes, routing_key: str) -> Disposition:
    """A broadcast copy: the next message brings fresh state, so a failure is logged and the copy dropped."""
    try:
        message = decode(subscription, body)
    except InvalidPayloadError as error:
        log.warning("broadcast copy dropped: invalid payload", error=str(error), routing_key=routing_key)
        return DROP
    try:
        await subscription.handler(message)
    except Exception:
        log.exception("broadcast copy dropped: the handler failed")
        return DROP
    return ACK
