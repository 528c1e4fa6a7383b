"""The standalone bus: the port's semantics inside one process, nothing kept across a restart.

Every publish goes through the same JSON body and validation as on RabbitMQ (`shared.bus.delivery`), each
subscription is a queue bound by topic patterns, a retry is an asyncio timer that puts the message back
into the failing queue only, and parked messages wait in a list until replayed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from shared.bus.delivery import (
    Action,
    deliver,
    publish_headers,
    replay_headers,
)
from shared.bus.port import (
    ROUTING_KEY_HEADER,
    ParkedMessage,
    PublishError,
    Subscription,
    topic_matches,
)
from shared.ids import new_id
from shared.logs import get_logger
from shared.messages.base import BusMessage

log = get_logger(__name__)


@dataclass(frozen=True)
class _Delivery:
    routing_key: str
    body: bytes
    headers: Mapping[str, str]
    transport_id: str


class _Queue:
    """One subscription's queue: bindings, pending deliveries, the consumer and its handlers in flight."""

    def __init__(self, subscription: Subscription, prefetch: int, delays: Sequence[float]) -> None:
        self.configure(subscription, prefetch, delays)
        self.pending: asyncio.Queue[_Delivery] = asyncio.Queue()
        self.parked: deque[ParkedMessage] = deque()
        self.consumer: asyncio.Task[None] | None = None
        self.in_flight: set[asyncio.Task[None]] = set()

    def configure(self, subscription: Subscription, prefetch: int, delays: Sequence[float]) -> None:
        self.subscription = subscription
        self.bindings = subscription.bindings()
        self.prefetch = max(1, prefetch)
        self.delays = tuple(delays)

    def binds(self, routing_key: str) -> bool:
        return any(topic_matches(pattern, routing_key) for pattern in self.bindings)


class InProcessBus:
    durable = False

    def __init__(self, *, prefetch: int, retry_delays: Sequence[float], stop_timeout: float = 30.0) -> None:
        self._prefetch = prefetch
        self._retry_delays = tuple(retry_delays)
        self._stop_timeout = stop_timeout
        self._queues: dict[str, _Queue] = {}
        self._timers: set[asyncio.TimerHandle] = set()
        self._stopped = False

    async def start(self) -> None:
        self._stopped = False

    async def ping(self) -> None:
        return None

    async def publish(self, message: BusMessage, *, headers: Mapping[str, str] | None = None) -> None:
        if self._stopped:
            raise PublishError("the bus is stopped")
        routing_key = message.routing_key
        targets = [queue for queue in self._queues.values() if queue.binds(routing_key)]
        if not targets:
            raise PublishError(f"no queue is bound to {routing_key!r}")
        body = message.model_dump_json().encode()
        delivery = _Delivery(routing_key, body, publish_headers(headers), new_id())
        for queue in targets:
            queue.pending.put_nowait(delivery)

    async def declare(self, subscription: Subscription) -> None:
        self._declare(subscription)

    async def subscribe(self, subscription: Subscription) -> None:
        queue = self._declare(subscription)
        if queue.consumer is None or queue.consumer.done():
            queue.consumer = asyncio.create_task(
                self._consume(queue), name=f"bus consumer {subscription.queue}"
            )

    def _declare(self, subscription: Subscription) -> _Queue:
        prefetch = subscription.prefetch or self._prefetch
        delays = self._retry_delays if subscription.retry_delays is None else subscription.retry_delays
        queue = self._queues.get(subscription.queue)
        if queue is None:
            queue = self._queues[subscription.queue] = _Queue(subscription, prefetch, delays)
        elif queue.consumer is None:
            # Declared first (so publishers never meet an unbound key), consumed now: what is queued stays.
            queue.configure(subscription, prefetch, delays)
        return queue

    async def _consume(self, queue: _Queue) -> None:
        slots = asyncio.Semaphore(queue.prefetch)
        while True:
            await slots.acquire()
            try:
                delivery = await queue.pending.get()
            except BaseException:
                slots.release()
                raise
            task = asyncio.create_task(self._handle(queue, delivery))
            queue.in_flight.add(task)
            task.add_done_callback(queue.in_flight.discard)
            task.add_done_callback(lambda _: slots.release())

    async def _handle(self, queue: _Queue, delivery: _Delivery) -> None:
        outcome = await deliver(
            queue.subscription,
            body=delivery.body,
            headers=delivery.headers,
            routing_key=delivery.routing_key,
            delays=queue.delays,
            transport_id=delivery.transport_id,
        )
        if outcome.action is Action.RETRY:
            retry = _Delivery(delivery.routing_key, delivery.body, outcome.headers, delivery.transport_id)
            self._schedule(queue, retry, outcome.delay)
        elif outcome.action is Action.PARK:
            routing_key = outcome.headers.get(ROUTING_KEY_HEADER, delivery.routing_key)
            queue.parked.append(
                ParkedMessage(queue.subscription.queue, routing_key, delivery.body, outcome.headers)
            )

    def _schedule(self, queue: _Queue, delivery: _Delivery, delay: float) -> None:
        if self._stopped:
            log.warning("retry dropped: the bus is stopping", queue=queue.subscription.queue)
            return
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle

        def fire() -> None:
            self._timers.discard(handle)
            queue.pending.put_nowait(delivery)

        handle = loop.call_later(delay, fire)
        self._timers.add(handle)

    async def parked(self, queue: str, *, limit: int = 100) -> list[ParkedMessage]:
        state = self._queues.get(queue)
        if state is None:
            return []
        return list(state.parked)[:limit]

    async def replay(self, queue: str, *, limit: int | None = None) -> int:
        state = self._queues.get(queue)
        if state is None:
            return 0
        count = 0
        while state.parked and (limit is None or count < limit):
            parked = state.parked.popleft()
            state.pending.put_nowait(
                _Delivery(parked.routing_key, parked.body, replay_headers(parked.headers), new_id())
            )
            count += 1
        if count:
            log.info("parked messages replayed", queue=queue, count=count)
        return count

    async def stop(self) -> None:
        self._stopped = True
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        consumers = [queue.consumer for queue in self._queues.values() if queue.consumer is not None]
        for consumer in consumers:
            consumer.cancel()
        for consumer in consumers:
            with contextlib.suppress(asyncio.CancelledError):
                await consumer
        for queue in self._queues.values():
            queue.consumer = None
            if queue.pending.qsize():
                # Not durable: the outbox relay re-publishes what was not handled.
                log.warning(
                    "messages not handled before stop",
                    queue=queue.subscription.queue,
                    count=queue.pending.qsize(),
                )
        in_flight = [task for queue in self._queues.values() for task in queue.in_flight]
        if in_flight:
            _, late = await asyncio.wait(in_flight, timeout=self._stop_timeout)
            if late:
                log.warning("handlers still running at stop were cancelled", count=len(late))
                for task in late:
                    task.cancel()
                await asyncio.gather(*late, return_exceptions=True)
