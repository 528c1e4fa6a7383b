"""Which bindings the code declared on RabbitMQ, kept on the broker: what `prune` needs to find stale ones.

RabbitMQ lists bindings only through its management plugin, so the bus keeps a ledger of its own: the
durable queue `<exchange>.topology`, holding JSON messages `{"bindings": [[queue, pattern], ...]}`.
Every `declare` adds an entry for what it bound; `prune` takes every entry (unacknowledged), unbinds what
they name and the code no longer declares, adds one entry with what it declared and only then
acknowledges the entries it read. Entries are only ever added before they are consumed, so concurrent
declarations never overwrite each other; a prune that dies midway leaves the entries in place.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from typing import Any

from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection
from aio_pika.exceptions import CONNECTION_EXCEPTIONS, ChannelNotFoundEntity

from shared.logs import get_logger

log = get_logger(__name__)

Binding = tuple[str, str]  # (queue without the exchange prefix, topic pattern)

# Quorum like every queue here; entries read but not yet acknowledged by a dying prune come back, and
# RabbitMQ 4.0 to 4.2 would count that towards the delivery limit: set it out of reach.
LEDGER_ARGUMENTS: dict[str, Any] = {"x-queue-type": "quorum", "x-delivery-limit": 1_000_000}


def ledger_name(exchange: str) -> str:
    return f"{exchange}.topology"


def encode(bindings: Iterable[Binding]) -> bytes:
    return json.dumps({"bindings": sorted(set(bindings))}).encode()


def decode(body: bytes) -> set[Binding]:
    try:
        entries = json.loads(body).get("bindings", [])
        return {(str(queue), str(pattern)) for queue, pattern in entries}
    except (ValueError, TypeError, AttributeError):
        log.warning("topology ledger entry not understood, ignored")
        return set()


async def take_entries(
    channel: AbstractChannel, exchange: str, timeout: float
) -> tuple[list[AbstractIncomingMessage], set[Binding]]:
    """Every entry, unacknowledged (they return if the channel closes), and the bindings they name."""
    queue = await channel.declare_queue(ledger_name(exchange), durable=True, arguments=LEDGER_ARGUMENTS)
    taken: list[AbstractIncomingMessage] = []
    bindings: set[Binding] = set()
    while (entry := await queue.get(no_ack=False, fail=False, timeout=timeout)) is not None:
        taken.append(entry)
        bindings |= decode(entry.body)
    return taken, bindings


async def unbind(connection: AbstractRobustConnection, exchange: str, queue: str, pattern: str) -> bool:
    """Remove one binding; False when the queue no longer exists (the broker closes the channel then)."""
    channel = await connection.channel(publisher_confirms=False)
    try:
        underlay = await channel.get_underlay_channel()
        await underlay.queue_unbind(queue=queue, exchange=exchange, routing_key=pattern)
    except ChannelNotFoundEntity:
        return False
    finally:
        with contextlib.suppress(*CONNECTION_EXCEPTIONS):
            await channel.close()
    return True
