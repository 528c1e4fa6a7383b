"""The RabbitMQ bus (aio-pika): one durable topic exchange, durable quorum queues, confirmed publishes.

Topology for a subscription queue `Q` (every name prefixed with the exchange name, so one exchange is one
namespace):

* `<exchange>.Q` — quorum queue bound to the exchange by the subscription's topic patterns;
* `<exchange>.Q.retry.<n>` — one quorum queue per retry delay, `x-message-ttl` = the delay; an expired
  message is dead-lettered through the default exchange straight to `Q`, so a retry reaches only the queue
  that failed and never the other subscribers of the routing key. The broker (3.10 or newer) expires
  messages on quorum queues, and dead-letters them at-least-once (which needs `reject-publish` overflow);
* `<exchange>.Q.parked` — quorum queue of messages that will not be retried, until replayed.

Retry and park are copies published (confirmed) through the default exchange before the original is acked,
so a crash in between can duplicate a message but never lose it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from aio_pika.exceptions import CONNECTION_EXCEPTIONS, ChannelNotFoundEntity, DeliveryError

from shared.bus.delivery import (
    Action,
    clean_headers,
    deliver,
    publish_headers,
    replay_headers,
)
from shared.bus.port import (
    ROUTING_KEY_HEADER,
    BusUnavailableError,
    ParkedMessage,
    PublishError,
    Subscription,
)
from shared.ids import new_id
from shared.logs import get_logger
from shared.messages.base import BusMessage

_REPLAY_EMPTY_ANSWERS = 40  # times the pause: up to 2 s for requeued messages to reappear
_REPLAY_EMPTY_PAUSE = 0.05

log = get_logger(__name__)

_QUORUM: dict[str, Any] = {"x-queue-type": "quorum"}
# Listing parked messages hands them back unacknowledged. RabbitMQ 4.0 to 4.2 count every such return
# towards a quorum queue's delivery limit (20 unless set) and drop the message past it: set it out of reach.
_PARKING: dict[str, Any] = {**_QUORUM, "x-delivery-limit": 1_000_000}


@dataclass
class _Consumer:
    subscription: Subscription
    channel: AbstractChannel
    queue: AbstractQueue
    delays: tuple[float, ...]
    tag: str = ""
    in_flight: set[asyncio.Task[Any]] = field(default_factory=set)


class AmqpBus:
    durable = True

    def __init__(
        self,
        url: str,
        *,
        exchange: str,
        prefetch: int,
        retry_delays: Sequence[float],
        connect_timeout: float = 10.0,
        publish_timeout: float = 10.0,
        stop_timeout: float = 30.0,
    ) -> None:
        self._url = url
        self._exchange_name = exchange
        self._prefetch = prefetch
        self._retry_delays = tuple(retry_delays)
        self._connect_timeout = connect_timeout
        self._publish_timeout = publish_timeout
        self._stop_timeout = stop_timeout
        self._connection: AbstractRobustConnection | None = None
        self._publisher: AbstractChannel | None = None  # publisher confirms, unroutable raises
        self._admin: AbstractChannel | None = None  # declarations
        self._exchange: AbstractExchange | None = None
        self._consumers: list[_Consumer] = []
        self._declared: dict[str, None] = {}  # queue names, in declaration order

    # -- names -------------------------------------------------------------------------------------------

    def queue_name(self, queue: str) -> str:
        return f"{self._exchange_name}.{queue}"

    def _delays(self, subscription: Subscription) -> tuple[float, ...]:
        delays = self._retry_delays if subscription.retry_delays is None else subscription.retry_delays
        return tuple(delays)

    # -- life cycle --------------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._connection is not None and not self._connection.is_closed:
            return
        try:
            self._connection = await aio_pika.connect_robust(self._url, timeout=self._connect_timeout)
            self._publisher = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
            self._admin = await self._connection.channel()
            self._exchange = await self._publisher.declare_exchange(
                self._exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
            )
        except CONNECTION_EXCEPTIONS as error:
            await self._close_connection()
            raise BusUnavailableError(f"cannot reach RabbitMQ: {error!r}") from error
        log.info("bus connected", exchange=self._exchange_name)

    async def ping(self) -> None:
        connection = self._connection
        if connection is None or connection.is_closed:
            raise BusUnavailableError("not connected to RabbitMQ")
        try:
            # A channel round trip proves the connection carries traffic, not only that the socket is open.
            async with asyncio.timeout(self._connect_timeout):
                channel = await connection.channel(publisher_confirms=False)
                await channel.close()
        except CONNECTION_EXCEPTIONS as error:
            raise BusUnavailableError(f"RabbitMQ does not answer: {error!r}") from error

    async def stop(self) -> None:
        consumers, self._consumers = self._consumers, []
        for consumer in consumers:
            if consumer.tag:
                with contextlib.suppress(*CONNECTION_EXCEPTIONS):
                    await consumer.queue.cancel(consumer.tag)
        # Closing a channel cancels its handlers: let them finish and ack first. A delivery that arrived
        # before the cancel may start a moment later, hence the loop.
        await asyncio.sleep(0)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._stop_timeout
        while in_flight := {task for consumer in consumers for task in consumer.in_flight}:
            remaining = deadline - loop.time()
            if remaining <= 0:
                log.warning("handlers still running at stop are cancelled", count=len(in_flight))
                break
            await asyncio.wait(in_flight, timeout=remaining)
        for consumer in consumers:
            with contextlib.suppress(*CONNECTION_EXCEPTIONS):
                await consumer.channel.close()
        await self._close_connection()

    async def _close_connection(self) -> None:
        connection = self._connection
        self._connection = self._publisher = self._admin = None
        self._exchange = None
        if connection is not None:
            with contextlib.suppress(*CONNECTION_EXCEPTIONS):
                await connection.close()

    # -- publishing --------------------------------------------------------------------------------------

    async def publish(self, message: BusMessage, *, headers: Mapping[str, str] | None = None) -> None:
        if self._exchange is None:
            raise PublishError("the bus is not connected")
        body = message.model_dump_json().encode()
        await self._confirmed(self._exchange, message.routing_key, body, publish_headers(headers), new_id())

    async def _confirmed(
        self,
        exchange: AbstractExchange,
        routing_key: str,
        body: bytes,
        headers: Mapping[str, str],
        message_id: str | None,
    ) -> None:
        message = aio_pika.Message(
            body,
            headers=dict(headers),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message_id,
        )
        try:
            # The bound covers waiting for a robust channel to come back as well as the confirm.
            async with asyncio.timeout(self._publish_timeout):
                await exchange.publish(message, routing_key, mandatory=True)
        except aio_pika.exceptions.PublishError as error:
            raise PublishError(f"no queue is bound to {routing_key!r}") from error
        except DeliveryError as error:
            raise PublishError(f"RabbitMQ refused the message for {routing_key!r}") from error
        except CONNECTION_EXCEPTIONS as error:
            raise PublishError(
                f"RabbitMQ did not confirm the message for {routing_key!r}: {error!r}"
            ) from error

    async def _to_queue(
        self, queue_name: str, body: bytes, headers: Mapping[str, str], message_id: str | None
    ) -> None:
        """Publish through the default exchange, which routes by queue name."""
        if self._publisher is None:
            raise PublishError("the bus is not connected")
        await self._confirmed(self._publisher.default_exchange, queue_name, body, headers, message_id)

    # -- topology ----------------------------------------------------------------------------------------

    async def declare(self, subscription: Subscription) -> None:
        await self._declare(subscription)

    async def delete_declared(self) -> None:
        """Delete every queue this bus declared, and its exchange: for tests and benchmarks that clean up."""
        if self._admin is None:
            raise BusUnavailableError("the bus is not connected")
        for name in self._declared:
            await self._admin.queue_delete(name)
        await self._admin.exchange_delete(self._exchange_name)
        self._declared.clear()

    async def _declare(self, subscription: Subscription) -> None:
        if self._admin is None:
            raise BusUnavailableError("the bus is not connected")
        name = self.queue_name(subscription.queue)
        delays = self._delays(subscription)
        self._declared.update(
            dict.fromkeys(
                [name, *(f"{name}.retry.{step}" for step in range(1, len(delays) + 1)), f"{name}.parked"]
            )
        )
        try:
            queue = await self._admin.declare_queue(name, durable=True, arguments=_QUORUM)
            for pattern in subscription.bindings():
                await queue.bind(self._exchange_name, pattern)
            for step, delay in enumerate(self._delays(subscription), start=1):
                arguments = {
                    **_QUORUM,
                    "x-message-ttl": round(delay * 1000),
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": name,
                    "x-dead-letter-strategy": "at-least-once",
                    "x-overflow": "reject-publish",
                }
                await self._admin.declare_queue(f"{name}.retry.{step}", durable=True, arguments=arguments)
            await self._admin.declare_queue(f"{name}.parked", durable=True, arguments=_PARKING)
        except CONNECTION_EXCEPTIONS as error:
            raise BusUnavailableError(f"cannot declare {name!r}: {error!r}") from error

    async def subscribe(self, subscription: Subscription) -> None:
        if self._connection is None:
            raise BusUnavailableError("the bus is not connected")
        await self._declare(subscription)
        name = self.queue_name(subscription.queue)
        try:
            channel = await self._connection.channel(publisher_confirms=False)
            await channel.set_qos(prefetch_count=subscription.prefetch or self._prefetch)
            queue = await channel.declare_queue(name, durable=True, arguments=_QUORUM)
            consumer = _Consumer(subscription, channel, queue, self._delays(subscription))

            async def on_message(message: AbstractIncomingMessage) -> None:
                await self._on_message(consumer, message)

            consumer.tag = await queue.consume(on_message)
        except CONNECTION_EXCEPTIONS as error:
            raise BusUnavailableError(f"cannot consume {name!r}: {error!r}") from error
        self._consumers.append(consumer)

    # -- consuming ---------------------------------------------------------------------------------------

    async def _on_message(self, consumer: _Consumer, message: AbstractIncomingMessage) -> None:
        # aio-pika runs each delivery in its own task; at most `prefetch` are unacknowledged at once.
        task = asyncio.current_task()
        if task is not None:
            consumer.in_flight.add(task)
        try:
            await self._handle(consumer, message)
        finally:
            if task is not None:
                consumer.in_flight.discard(task)

    async def _handle(self, consumer: _Consumer, message: AbstractIncomingMessage) -> None:
        name = self.queue_name(consumer.subscription.queue)
        outcome = await deliver(
            consumer.subscription,
            body=message.body,
            headers=message.headers,
            routing_key=message.routing_key or "",
            delays=consumer.delays,
            transport_id=message.message_id,
        )
        try:
            if outcome.action is Action.RETRY:
                await self._to_queue(
                    f"{name}.retry.{outcome.step}", message.body, outcome.headers, message.message_id
                )
            elif outcome.action is Action.PARK:
                await self._to_queue(f"{name}.parked", message.body, outcome.headers, message.message_id)
        except PublishError as error:
            # The copy is not safe: hand the original back so it is neither lost nor forgotten.
            log.error("could not move the message, returned to its queue", queue=name, error=str(error))
            with contextlib.suppress(*CONNECTION_EXCEPTIONS):
                await message.nack(requeue=True)
            return
        try:
            await message.ack()
        except CONNECTION_EXCEPTIONS as error:
            log.warning("ack lost, the message will be delivered again", queue=name, error=repr(error))

    # -- parking queue -----------------------------------------------------------------------------------

    async def parked(self, queue: str, *, limit: int = 100) -> list[ParkedMessage]:
        if self._connection is None:
            raise BusUnavailableError("the bus is not connected")
        result: list[ParkedMessage] = []
        channel = await self._connection.channel(publisher_confirms=False)
        try:
            parking = await self._parking_queue(channel, queue)
            if parking is None:
                return []
            taken: list[AbstractIncomingMessage] = []
            try:
                while len(taken) < limit:
                    message = await parking.get(no_ack=False, fail=False, timeout=self._publish_timeout)
                    if message is None:
                        break
                    taken.append(message)
                    result.append(self._parked_message(queue, message))
            finally:
                # Unacknowledged, they go back to the parking queue in their order. `nack`: RabbitMQ 4.3
                # counts only `reject` towards a quorum queue's delivery limit.
                for message in taken:
                    await message.nack(requeue=True)
        except CONNECTION_EXCEPTIONS as error:
            raise BusUnavailableError(f"cannot read parked messages of {queue!r}: {error!r}") from error
        finally:
            with contextlib.suppress(*CONNECTION_EXCEPTIONS):
                await channel.close()
        return result

    async def replay(self, queue: str, *, limit: int | None = None) -> int:
        if self._connection is None:
            raise BusUnavailableError("the bus is not connected")
        name = self.queue_name(queue)
        count = 0
        channel = await self._connection.channel(publisher_confirms=False)
        try:
            parking = await self._parking_queue(channel, queue)
            if parking is None:
                return 0
            # A message that fails again while replaying comes back with the same id: it stops the loop and
            # waits for the next replay. An empty answer is asked again for a moment, because messages a
            # listing just returned may still be on their way back into a quorum queue.
            replayed: set[str] = set()
            empty_answers = 0
            while limit is None or count < limit:
                message = await parking.get(no_ack=False, fail=False, timeout=self._publish_timeout)
                if message is None:
                    empty_answers += 1
                    if empty_answers > _REPLAY_EMPTY_ANSWERS:
                        break
                    await asyncio.sleep(_REPLAY_EMPTY_PAUSE)
                    continue
                identity = message.message_id or hashlib.sha256(message.body).hexdigest()
                if identity in replayed:
                    await message.nack(requeue=True)
                    break
                headers = replay_headers(clean_headers(message.headers))
                try:
                    await self._to_queue(name, message.body, headers, message.message_id)
                except PublishError:
                    await message.nack(requeue=True)
                    raise
                await message.ack()
                replayed.add(identity)
                count += 1
        except CONNECTION_EXCEPTIONS as error:
            raise BusUnavailableError(f"cannot replay parked messages of {queue!r}: {error!r}") from error
        finally:
            with contextlib.suppress(*CONNECTION_EXCEPTIONS):
                await channel.close()
        if count:
            log.info("parked messages replayed", queue=queue, count=count)
        return count

    async def _parking_queue(self, channel: AbstractChannel, queue: str) -> AbstractQueue | None:
        try:
            return await channel.declare_queue(f"{self.queue_name(queue)}.parked", passive=True)
        except ChannelNotFoundEntity:
            return None

    @staticmethod
    def _parked_message(queue: str, message: AbstractIncomingMessage) -> ParkedMessage:
        headers = clean_headers(message.headers)
        routing_key = headers.get(ROUTING_KEY_HEADER) or message.routing_key or ""
        return ParkedMessage(queue, routing_key, message.body, headers)
