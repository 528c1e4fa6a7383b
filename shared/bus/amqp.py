"""The RabbitMQ bus (aio-pika): one durable topic exchange, durable quorum queues, confirmed publishes.

Topology for a subscription queue `Q` (every name prefixed with the exchange name, so one exchange is one
namespace):

* `<exchange>.Q` — quorum queue bound to the exchange by the subscription's topic patterns;
* `<exchange>.Q.retry.<n>` — one quorum queue per retry delay, `x-message-ttl` = the delay; an expired
  message is dead-lettered through the default exchange straight to `Q`, so a retry reaches only the queue
  that failed and never the other subscribers of the routing key. The broker (3.10 or newer) expires
  messages on quorum queues, and dead-letters them at-least-once (which needs `reject-publish` overflow);
* `<exchange>.Q.parked` — quorum queue of messages that will not be retried, until replayed;
* `<exchange>.topology` — the ledger of declared bindings that `prune` reads (`shared.bus.amqp_ledger`).
* `<exchange>.delay`, `<exchange>.delay.wait.<seconds>`, `<exchange>.delay.parked` — delayed publishes
  (`shared.bus.amqp_delay`), declared by the first delayed publish or durable subscription; a bus that
  consumes a durable queue also relays delayed messages that came due.

A broadcast subscription is a server-named, exclusive, auto-delete classic queue bound by its patterns:
one per subscribing bus, gone with its connection; each copy is acknowledged whatever its handler did.

Retry and park are copies published (confirmed) through the default exchange before the original is acked,
so a crash in between can duplicate a message but never lose it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping, Sequence
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
from aio_pika.exceptions import CONNECTION_EXCEPTIONS, DeliveryError

from shared.bus import amqp_delay, amqp_ledger, amqp_parking
from shared.bus.handling import (
    Verdict,
    count_consumed,
    count_published,
    delay_ms_of,
    handle_delivery,
    publish_headers,
)
from shared.bus.port import (
    BusUnavailableError,
    ParkedMessage,
    PublishError,
    Subscription,
    UnroutableError,
    binding_text,
    is_broadcast,
)
from shared.ids import new_id
from shared.logs import get_logger
from shared.messages.base import BusMessage
from shared.metrics import Metrics

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
    def __init__(
        self,
        url: str,
        *,
        exchange: str,
        prefetch: int,
        retry_delays: Sequence[float],
        metrics: Metrics | None = None,
        connect_timeout: float = 10.0,
        publish_timeout: float = 10.0,
        stop_timeout: float = 30.0,
    ) -> None:
        self._url = url
        self._exchange_name = exchange
        self._prefetch = prefetch
        self._retry_delays = tuple(retry_delays)
        self._metrics = metrics
        self._connect_timeout = connect_timeout
        self._publish_timeout = publish_timeout
        self._stop_timeout = stop_timeout
        self._connection: AbstractRobustConnection | None = None
        self._publisher: AbstractChannel | None = None  # publisher confirms, unroutable raises
        self._admin: AbstractChannel | None = None  # declarations
        self._exchange: AbstractExchange | None = None
        self._consumers: list[_Consumer] = []
        self._declared: dict[str, None] = {}  # queue names, in declaration order
        self._delay_declared = False
        self._relay = amqp_delay.DelayRelay(exchange, self._to_queue, self._to_exchange)

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
        await self._relay.stop(self._stop_timeout)
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
        self._delay_declared = False
        if connection is not None:
            with contextlib.suppress(*CONNECTION_EXCEPTIONS):
                await connection.close()

    # -- publishing --------------------------------------------------------------------------------------

    async def publish(
        self, message: BusMessage, *, headers: Mapping[str, str] | None = None, delay_seconds: float = 0
    ) -> None:
        if self._exchange is None:
            raise PublishError("the bus is not connected")
        body = message.model_dump_json().encode()
        routing_key = message.routing_key
        if delay_ms_of(message, delay_seconds):
            await self._publish_delayed(routing_key, body, publish_headers(headers), delay_seconds)
            count_published(self._metrics, routing_key)
            return
        mandatory = not is_broadcast(message)  # a broadcast nobody listens to is not an error
        await self._confirmed(
            self._exchange, routing_key, body, publish_headers(headers), new_id(), mandatory=mandatory
        )
        count_published(self._metrics, routing_key)

    async def _publish_delayed(
        self, routing_key: str, body: bytes, headers: dict[str, str], delay_seconds: float
    ) -> None:
        """Onto the ladder's rung that fits; routed (and checked for a queue) only when it is due."""
        await self._declare_delay()
        rung = amqp_delay.rung_queue(self._exchange_name, amqp_delay.rung_for(delay_seconds))
        await self._to_queue(
            rung, body, amqp_delay.delayed_headers(headers, routing_key, delay_seconds), new_id()
        )

    async def _declare_delay(self) -> None:
        if self._delay_declared:
            return
        if self._admin is None:
            raise PublishError("the bus is not connected")
        try:
            await amqp_delay.declare(self._admin, self._exchange_name)
        except CONNECTION_EXCEPTIONS as error:
            raise PublishError(f"cannot declare the delay queues: {error!r}") from error
        self._declared.update(dict.fromkeys(amqp_delay.queue_names(self._exchange_name)))
        self._delay_declared = True

    async def _to_exchange(
        self, routing_key: str, body: bytes, headers: Mapping[str, str], message_id: str | None
    ) -> None:
        """A delayed message that came due, to the queues bound to its routing key now."""
        if self._exchange is None:
            raise PublishError("the bus is not connected")
        await self._confirmed(self._exchange, routing_key, body, headers, message_id)

    async def _confirmed(
        self,
        exchange: AbstractExchange,
        routing_key: str,
        body: bytes,
        headers: Mapping[str, str],
        message_id: str | None,
        *,
        mandatory: bool = True,
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
                await exchange.publish(message, routing_key, mandatory=mandatory)
        except aio_pika.exceptions.PublishError as error:
            raise UnroutableError(f"no queue is bound to {routing_key!r}") from error
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
        if subscription.broadcast:
            return
        await self._declare(subscription)
        # Recorded, so that a later `prune` knows to remove these bindings once the code drops them.
        await self._record((subscription.queue, pattern) for pattern in subscription.bindings())

    async def _record(self, bindings: Iterable[amqp_ledger.Binding]) -> None:
        if self._admin is None:
            raise BusUnavailableError("the bus is not connected")
        ledger = amqp_ledger.ledger_name(self._exchange_name)
        try:
            if ledger not in self._declared:
                await self._admin.declare_queue(ledger, durable=True, arguments=amqp_ledger.LEDGER_ARGUMENTS)
                self._declared[ledger] = None
            await self._to_queue(ledger, amqp_ledger.encode(bindings), {}, None)
        except (PublishError, *CONNECTION_EXCEPTIONS) as error:
            raise BusUnavailableError(f"cannot record the bindings in {ledger!r}: {error!r}") from error

    async def prune(self, subscriptions: Sequence[Subscription]) -> list[str]:
        if self._connection is None or self._admin is None:
            raise BusUnavailableError("the bus is not connected")
        durable = [subscription for subscription in subscriptions if not subscription.broadcast]
        for subscription in durable:
            await self._declare(subscription)
        wanted = {(item.queue, pattern) for item in durable for pattern in item.bindings()}
        self._declared[amqp_ledger.ledger_name(self._exchange_name)] = None
        channel = await self._connection.channel(publisher_confirms=False)
        try:
            entries, known = await amqp_ledger.take_entries(
                channel, self._exchange_name, self._publish_timeout
            )
            stale = sorted(known - wanted)
            for queue, pattern in stale:
                await amqp_ledger.unbind(
                    self._connection, self._exchange_name, self.queue_name(queue), pattern
                )
            await self._record(wanted)
            for entry in entries:
                await entry.ack()
        except CONNECTION_EXCEPTIONS as error:
            raise BusUnavailableError(
                f"cannot prune the bindings of {self._exchange_name!r}: {error!r}"
            ) from error
        finally:
            with contextlib.suppress(*CONNECTION_EXCEPTIONS):
                await channel.close()
        kept = {queue for queue, _ in wanted}
        for queue in sorted({queue for queue, _ in stale} - kept):
            log.warning("queue no longer declared: it keeps its messages but receives none", queue=queue)
        return [binding_text(queue, pattern) for queue, pattern in stale]

    async def delete_declared(self) -> None:
        """Delete every queue this bus declared, and its exchange: for tests and benchmarks that clean up."""
        if self._admin is None:
            raise BusUnavailableError("the bus is not connected")
        # The delay queues too, which a delayed publish of another process may have declared.
        for name in dict.fromkeys([*self._declared, *amqp_delay.queue_names(self._exchange_name)]):
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
        if subscription.broadcast:
            name = subscription.queue
        else:
            await self.declare(subscription)
            name = self.queue_name(subscription.queue)
        try:
            channel = await self._connection.channel(publisher_confirms=False)
            await channel.set_qos(prefetch_count=subscription.prefetch or self._prefetch)
            if subscription.broadcast:
                queue = await channel.declare_queue(
                    None, exclusive=True, auto_delete=True, arguments={"x-queue-type": "classic"}
                )
                for pattern in subscription.bindings():
                    await queue.bind(self._exchange_name, pattern)
            else:
                queue = await channel.declare_queue(name, durable=True, arguments=_QUORUM)
            consumer = _Consumer(subscription, channel, queue, self._delays(subscription))

            async def on_message(message: AbstractIncomingMessage) -> None:
                await self._on_message(consumer, message)

            consumer.tag = await queue.consume(on_message)
            if not subscription.broadcast and not self._relay.running:
                # Whoever consumes durable queues also moves delayed messages on.
                await self._relay.start(await self._connection.channel(publisher_confirms=False))
                self._declared.update(dict.fromkeys(amqp_delay.queue_names(self._exchange_name)))
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
        subscription = consumer.subscription
        name = self.queue_name(subscription.queue)
        disposition = await handle_delivery(
            subscription,
            body=message.body,
            headers=message.headers,
            routing_key=message.routing_key or "",
            delays=consumer.delays,
            transport_id=message.message_id,
        )
        try:
            if disposition.verdict is Verdict.RETRY:
                await self._to_queue(
                    f"{name}.retry.{disposition.step}", message.body, disposition.headers, message.message_id
                )
            elif disposition.verdict is Verdict.PARK:
                await self._to_queue(f"{name}.parked", message.body, disposition.headers, message.message_id)
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
            return
        count_consumed(self._metrics, subscription.queue, disposition)

    # -- parking queue -----------------------------------------------------------------------------------

    async def parked(self, queue: str, *, limit: int = 100) -> list[ParkedMessage]:
        if self._connection is None:
            raise BusUnavailableError("the bus is not connected")
        channel = await self._connection.channel(publisher_confirms=False)
        try:
            return await amqp_parking.list_parked(
                channel, queue, f"{self.queue_name(queue)}.parked", limit, self._publish_timeout
            )
        except CONNECTION_EXCEPTIONS as error:
            raise BusUnavailableError(f"cannot read parked messages of {queue!r}: {error!r}") from error
        finally:
            with contextlib.suppress(*CONNECTION_EXCEPTIONS):
                await channel.close()

    async def replay(self, queue: str, *, limit: int | None = None) -> int:
        if self._connection is None:
            raise BusUnavailableError("the bus is not connected")
        name = self.queue_name(queue)

        async def send(body: bytes, headers: Mapping[str, str], message_id: str | None) -> None:
            await self._to_queue(name, body, headers, message_id)

        channel = await self._connection.channel(publisher_confirms=False)
        try:
            count = await amqp_parking.replay_parked(
                channel, f"{name}.parked", send, limit, self._publish_timeout
            )
        except CONNECTION_EXCEPTIONS as error:
            raise BusUnavailableError(f"cannot replay parked messages of {queue!r}: {error!r}") from error
        finally:
            with contextlib.suppress(*CONNECTION_EXCEPTIONS):
                await channel.close()
        if count:
            log.info("parked messages replayed", queue=queue, count=count)
        return count
