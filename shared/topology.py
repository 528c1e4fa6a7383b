"""Every durable queue on the bus and the messages it takes.

Each process declares the whole topology at start, so a publisher never meets an unbound routing key
because its consumer has not started yet (the message would otherwise wait in the outbox).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.messages.base import BusMessage
from shared.messages.push import MessageAcceptedV1


@dataclass(frozen=True)
class QueueSpec:
    name: str
    models: tuple[type[BusMessage], ...]


DISPATCHER_ACCEPTED = QueueSpec("dispatcher.accepted", (MessageAcceptedV1,))

QUEUES: tuple[QueueSpec, ...] = (DISPATCHER_ACCEPTED,)
