"""The bus port: topic publish/subscribe with acknowledgement, delayed retries and a parking queue.

Semantics both adapters keep (proven by `tests/contract/test_bus_contract.py`):

* `publish` returns only once the message is durably queued (a publisher confirm on RabbitMQ, a committed
  row of the standalone store's queue table in-process) and raises `PublishError` when it is not,
  including when no queue is bound to its routing key (unless the model is marked `BROADCAST`);
* every queue survives a restart of the process, with what it holds: a message leaves its queue only once
  its handler returned (or it was moved to a retry or to parking), so a process killed meanwhile has it
  delivered again; handlers are therefore idempotent. In-process, what a handler publishes is committed
  together with the removal of the message it handles, so no such publish is lost and none is kept
  without its message being done;
* routing keys are `<type>.v<version>`; subscriptions bind topic patterns (`*` one word, `#` zero or more);
  `declare` only adds bindings, `prune` (run by `igot migrate`) also removes those the code no longer
  declares: a queue left behind keeps its messages but receives nothing new;
* a consumer never acks by hand: the adapter validates the payload into the subscription's model, calls
  the handler, acks when it returns; a `TransientError` (or any unexpected exception) is retried after
  the next of the growing delays; after the last delay, or at once for `PermanentError` or a payload
  that does not validate, the message is parked in the queue's parking queue (`<queue>.parked`), where
  it can be listed and replayed. A retry returns to the failing queue only, never to other subscribers;
* subscribers of one durable queue compete: each message is handled by one of them. A `broadcast`
  subscription instead gives every subscribing bus instance (every replica) its own copy, at most once
  and only while it runs: never retried or parked; a failing handler drops the copy. A broadcast (a
  model marked `BROADCAST`) reaches the broadcast subscribers of every bus on the same broker or store
  file, in other processes too (an admin command tells the running servers); the in-process bus hands
  other messages to the broadcast subscribers of this process only;
* at most `prefetch` handlers of one subscription run at once; `stop` stops taking new messages and
  waits for the handlers in flight;
* `publish(..., delay_seconds=d)` holds the message back: its handlers get it no sooner than `d` seconds
  later (a second to a day or more; it may come up to a poll interval or a second late), and it survives
  restarts meanwhile; nothing sleeps holding it. In-process its rows are written with a later
  availability time (queues bound when it is published); on RabbitMQ it waits in a ladder of fixed-delay
  queues and is routed when it comes due (`shared.bus.amqp_delay`), parked there if nothing binds its
  routing key then. A broadcast cannot be delayed (`ValueError`);
* headers `x-trace-id` and `x-message-id` travel with the message and are bound into the log context;
* with `metrics`, `igot_bus_published_total{routing_key}` counts confirmed publishes and
  `igot_bus_consumed_total{queue, outcome}` handled deliveries (ack, retry, park, drop).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

# Handlers raise the shared failure types; the trace headers are the same on HTTP and the bus.
from shared.failures import PermanentError as PermanentError
from shared.failures import ThrottledError as ThrottledError
from shared.failures import TransientError as TransientError
from shared.messages.base import BusMessage
from shared.tracing import MESSAGE_HEADER as MESSAGE_HEADER
from shared.tracing import TRACE_HEADER as TRACE_HEADER

Handler = Callable[[Any], Awaitable[None]]

ATTEMPT_HEADER = "x-igot-attempt"
ERROR_HEADER = "x-igot-error"
# The routing key a message was published with; dead-lettering through a delay queue replaces it.
ROUTING_KEY_HEADER = "x-igot-routing-key"
# A delayed message is not handed to a handler before this time (epoch milliseconds).
NOT_BEFORE_HEADER = "x-igot-not-before"


class PublishError(Exception):
    """The bus did not take the message (unroutable, not confirmed, broker gone)."""


class UnroutableError(PublishError):
    """No queue is bound to the message's routing key."""


class BusUnavailableError(Exception):
    """The bus cannot be reached."""


@dataclass(frozen=True)
class Subscription:
    """A named durable queue, the message models it accepts, and the handler that receives them.

    `models` are every accepted type/version (N and N-1 during a rollout); their routing keys are bound
    unless `routing_keys` names topic patterns explicitly. With `broadcast`, `queue` only names the
    subscription (logs, metrics): each subscribing bus gets a private copy of every matching message.
    """

    queue: str
    models: Sequence[type[BusMessage]]
    handler: Handler
    routing_keys: Sequence[str] = ()
    prefetch: int | None = None
    retry_delays: Sequence[float] | None = None
    broadcast: bool = False

    def bindings(self) -> tuple[str, ...]:
        if self.routing_keys:
            return tuple(self.routing_keys)
        return tuple(model.routing_key_for() for model in self.models)

    def model_for(self, payload: Mapping[str, Any]) -> type[BusMessage] | None:
        for model in self.models:
            if payload.get("type") == model.TYPE and payload.get("version") == model.VERSION:
                return model
        return None


@dataclass(frozen=True)
class ParkedMessage:
    queue: str
    routing_key: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def error(self) -> str:
        return self.headers.get(ERROR_HEADER, "")


class Bus(Protocol):
    async def start(self) -> None: ...

    async def publish(
        self, message: BusMessage, *, headers: Mapping[str, str] | None = None, delay_seconds: float = 0
    ) -> None:
        """Durably queue the message; with `delay_seconds`, for handling no sooner than that."""
        ...

    async def subscribe(self, subscription: Subscription) -> None:
        """Declare the queue (with its retry and parking queues) and start consuming."""
        ...

    async def declare(self, subscription: Subscription) -> None:
        """Declare the queue and bindings without consuming, so publishers never meet an unbound key."""
        ...

    async def prune(self, subscriptions: Sequence[Subscription]) -> list[str]:
        """Declare these subscriptions and remove every other binding to the exchange.

        A queue no longer declared keeps its messages but loses its bindings. Returns one line per
        binding removed, `<queue> <- <pattern>`.
        """
        ...

    async def parked(self, queue: str, *, limit: int = 100) -> list[ParkedMessage]: ...

    async def replay(self, queue: str, *, limit: int | None = None) -> int:
        """Move parked messages back to the queue with a fresh attempt count; return how many."""
        ...

    async def ping(self) -> None: ...

    async def stop(self) -> None:
        """Cancel consumers, let handlers in flight finish, close connections."""
        ...


def is_broadcast(message: BusMessage) -> bool:
    """A model marked `BROADCAST = True` may be published while nobody listens: it is only a signal."""
    return bool(getattr(type(message), "BROADCAST", False))


def binding_text(queue: str, pattern: str) -> str:
    return f"{queue} <- {pattern}"


def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic matching: words split on '.', `*` is exactly one word, `#` zero or more."""
    return _match(pattern.split("."), routing_key.split("."))


def _match(pattern: list[str], words: list[str]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    return (head == "*" or head == words[0]) and _match(rest, words[1:])
