"""The in-memory side of the in-process bus: a subscription's queue, and a running handler's publishes."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field

from shared.bus.port import Subscription, topic_matches
from shared.bus.queue_table import Row


@dataclass(frozen=True)
class Outgoing:
    routing_key: str
    body: bytes
    headers: Mapping[str, str]
    transport_id: str
    queues: tuple[str, ...]
    broadcast: bool = False  # a signal for every bus over the store's file, other processes' too
    delay_ms: int = 0  # not handed to a handler before this long after the commit


@dataclass
class HandlerScope:
    """Publishes of the handler running in this task, committed with its message's settlement."""

    bus: object  # the bus whose handler this is: publishes to another bus are not held back
    outgoing: list[Outgoing] = field(default_factory=list)
    open: bool = True


HANDLER: ContextVar[HandlerScope | None] = ContextVar("igot_bus_handler", default=None)


class LocalQueue:
    """One subscription: bindings, rows handed over in memory, the consumer and its handlers in flight."""

    def __init__(self, subscription: Subscription, prefetch: int, delays: Sequence[float]) -> None:
        self.bindings: tuple[str, ...] = ()
        self.configure(subscription, prefetch, delays)
        self.pending: asyncio.Queue[Row] = asyncio.Queue()
        self.consumer: asyncio.Task[None] | None = None
        self.in_flight: set[asyncio.Task[None]] = set()
        self.backlog = False  # the last claim was full: claim again as soon as `pending` runs dry

    def configure(self, subscription: Subscription, prefetch: int, delays: Sequence[float]) -> None:
        self.subscription = subscription
        self.bindings = tuple(dict.fromkeys([*self.bindings, *subscription.bindings()]))
        self.prefetch = max(1, prefetch)
        self.delays = tuple(delays)

    @property
    def name(self) -> str:
        return self.subscription.queue

    @property
    def consuming(self) -> bool:
        return self.consumer is not None and not self.consumer.done()

    def binds(self, routing_key: str) -> bool:
        return any(topic_matches(pattern, routing_key) for pattern in self.bindings)
