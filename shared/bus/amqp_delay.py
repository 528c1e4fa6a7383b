"""Delayed publishes on RabbitMQ: a ladder of fixed-delay queues and a relay that routes what came due.

A message published with a delay gets a `x-igot-not-before` header (epoch milliseconds) and its routing
key in `x-igot-delayed-routing-key`, and is put, through the default exchange, in the longest rung of the
ladder no longer than its wait: `<exchange>.delay.wait.<seconds>`, a quorum queue whose every message
has the same time to live, so that messages expire in their order and none waits behind a longer one
(per-message TTLs would). An expired message is dead-lettered (at least once) to `<exchange>.delay`,
which the relay consumes: a message still early goes back to the rung that fits the rest of its wait;
a due one is published to the topic exchange with its routing key and reaches every queue bound to it
then. A rung is at least a second, so a message may come up to a second late, never early.

The relay runs in every bus that consumes a durable queue (competing consumers of `<exchange>.delay`),
so no handler of a subscriber ever sees an early message. Each move is a confirmed publish made before
the ack, so a crash in between can duplicate a delayed message (handlers are idempotent) but never lose
it. A due message whose routing key nothing binds is parked in `<exchange>.delay.parked`, listed and
replayed like any parking queue (`igot dlq list delay`): replayed, it is routed again at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from aio_pika.exceptions import CONNECTION_EXCEPTIONS

from shared.bus.handling import clean_headers
from shared.bus.port import ERROR_HEADER, NOT_BEFORE_HEADER, PublishError, UnroutableError
from shared.logs import get_logger

log = get_logger(__name__)

DELAYED_ROUTING_KEY_HEADER = "x-igot-delayed-routing-key"
# Seconds each rung holds a message: a day's wait takes at most a dozen hops.
LADDER_SECONDS: tuple[int, ...] = (1, 5, 30, 120, 600, 3600, 4 * 3600)
RELAY_PREFETCH = 64

_QUORUM: dict[str, Any] = {"x-queue-type": "quorum"}
_PARKING: dict[str, Any] = {**_QUORUM, "x-delivery-limit": 1_000_000}

# (queue name, body, headers, transport message id)
ToQueue = Callable[[str, bytes, Mapping[str, str], str | None], Awaitable[None]]
# (routing key, body, headers, transport message id): raises UnroutableError when nothing binds the key
ToExchange = Callable[[str, bytes, Mapping[str, str], str | None], Awaitable[None]]


def due_queue(exchange: str) -> str:
    return f"{exchange}.delay"


def rung_queue(exchange: str, seconds: int) -> str:
    return f"{exchange}.delay.wait.{seconds}"


def parking_queue(exchange: str) -> str:
    return f"{exchange}.delay.parked"


def queue_names(exchange: str) -> list[str]:
    return [
        due_queue(exchange),
        *(rung_queue(exchange, seconds) for seconds in LADDER_SECONDS),
        parking_queue(exchange),
    ]


def rung_for(remaining_seconds: float) -> int:
    """The longest rung no longer than the wait left (the shortest one for less than a second)."""
    fitting = [seconds for seconds in LADDER_SECONDS if seconds <= remaining_seconds]
    return fitting[-1] if fitting else LADDER_SECONDS[0]


def now_ms() -> int:
    return int(time.time() * 1000)


def delayed_headers(headers: Mapping[str, str], routing_key: str, delay_seconds: float) -> dict[str, str]:
    return {
        **headers,
        NOT_BEFORE_HEADER: str(now_ms() + round(delay_seconds * 1000)),
        DELAYED_ROUTING_KEY_HEADER: routing_key,
    }


async def declare(channel: AbstractChannel, exchange: str) -> None:
    """The ladder, the queue the relay reads and its parking queue (idempotent)."""
    due = due_queue(exchange)
    await channel.declare_queue(due, durable=True, arguments=_QUORUM)
    for seconds in LADDER_SECONDS:
        arguments = {
            **_QUORUM,
            "x-message-ttl": seconds * 1000,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": due,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }
        await channel.declare_queue(rung_queue(exchange, seconds), durable=True, arguments=arguments)
    await channel.declare_queue(parking_queue(exchange), durable=True, arguments=_PARKING)


class DelayRelay:
    """Consumes `<exchange>.delay`: an early message back onto the ladder, a due one to its routing key."""

    def __init__(self, exchange: str, to_queue: ToQueue, to_exchange: ToExchange) -> None:
        self._exchange = exchange
        self._to_queue = to_queue
        self._to_exchange = to_exchange
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._tag = ""
        self._in_flight: set[asyncio.Task[Any]] = set()

    @property
    def running(self) -> bool:
        return self._channel is not None

    async def start(self, channel: AbstractChannel) -> None:
        await channel.set_qos(prefetch_count=RELAY_PREFETCH)
        await declare(channel, self._exchange)
        self._queue = await channel.declare_queue(due_queue(self._exchange), durable=True, arguments=_QUORUM)
        self._channel = channel
        self._tag = await self._queue.consume(self._on_message)

    async def stop(self, timeout: float) -> None:
        channel, queue, self._channel = self._channel, self._queue, None
        if channel is None or queue is None:
            return
        with contextlib.suppress(*CONNECTION_EXCEPTIONS):
            await queue.cancel(self._tag)
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=timeout)
        with contextlib.suppress(*CONNECTION_EXCEPTIONS):
            await channel.close()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            await self._move(message)
        finally:
            if task is not None:
                self._in_flight.discard(task)

    async def _move(self, message: AbstractIncomingMessage) -> None:
        headers = clean_headers(message.headers)
        routing_key = headers.get(DELAYED_ROUTING_KEY_HEADER, "")
        try:
            not_before = int(headers.get(NOT_BEFORE_HEADER, "0"))
        except ValueError:
            not_before = 0
        remaining = (not_before - now_ms()) / 1000
        try:
            if not routing_key:
                await self._park(message, headers, "a delayed message without its routing key")
            elif remaining > 0:
                rung = rung_queue(self._exchange, rung_for(remaining))
                await self._to_queue(rung, message.body, headers, message.message_id)
            else:
                await self._route(message, headers, routing_key)
        except (PublishError, *CONNECTION_EXCEPTIONS) as error:
            # Not moved: handed back, so it is neither lost nor forgotten.
            log.error("delayed message not moved, returned to its queue", error=str(error))
            with contextlib.suppress(*CONNECTION_EXCEPTIONS):
                await message.nack(requeue=True)
            return
        with contextlib.suppress(*CONNECTION_EXCEPTIONS):
            await message.ack()

    async def _route(
        self, message: AbstractIncomingMessage, headers: dict[str, str], routing_key: str
    ) -> None:
        onward = {
            key: value
            for key, value in headers.items()
            if key not in (NOT_BEFORE_HEADER, DELAYED_ROUTING_KEY_HEADER)
        }
        try:
            await self._to_exchange(routing_key, message.body, onward, message.message_id)
        except UnroutableError:
            await self._park(message, headers, f"no queue is bound to {routing_key!r} when it came due")

    async def _park(self, message: AbstractIncomingMessage, headers: dict[str, str], error: str) -> None:
        log.error("delayed message parked", error=error)
        parked = {**headers, ERROR_HEADER: error}
        await self._to_queue(parking_queue(self._exchange), message.body, parked, message.message_id)
