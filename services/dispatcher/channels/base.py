"""What every channel is: a name, its limits, its retry budget, one `send`. The dispatcher owns the policy.

A channel never retries by itself. It returns a `DeliveryResult` or raises one of the shared failure types
(`shared.failures`): `PermanentError` (next way now), `TransientError` (retry later) or `ThrottledError`
(retry after the delay the provider asked for). The type alone decides what happens next.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from shared.data.push_ways import WayTarget
from shared.messages.push import MessageBody
from shared.store import Document


@dataclass(frozen=True)
class Delivery:
    """One message to one recipient on one way."""

    message_id: str
    body: MessageBody
    app: str
    created_at: int  # epoch milliseconds, when the push was accepted
    source: str | None = None
    topic: str | None = None
    extra: str | None = None  # the sender's other fields as JSON text

    @classmethod
    def of_message(cls, message: Document) -> Delivery:
        """From a stored message (`shared.data.messages`)."""
        return cls(
            message_id=message["_id"],
            body=MessageBody.model_validate(message["body"]),
            app=message.get("app", "iGot"),
            created_at=message["createdAt"],
            source=message.get("source"),
            topic=message.get("topic"),
            extra=message.get("extra"),
        )


@dataclass(frozen=True)
class DeliveryResult:
    way: str
    provider_reference: str | None = None


class Channel(ABC):
    name: ClassVar[str]
    max_title: ClassVar[int] = 256
    max_body: ClassVar[int] = 4096
    # Seconds between tries of one delivery on this way; None: the bus's (`IGOT_BUS_RETRY_DELAYS`).
    retry_delays: ClassVar[tuple[float, ...] | None] = None

    @abstractmethod
    async def send(self, target: WayTarget, delivery: Delivery) -> DeliveryResult:
        """Deliver to `target` (the way's verified address) or raise a `shared.failures` error."""
