"""What every channel is: a name, its limits, one `send`. The dispatcher owns retries and fallback.

A channel never retries by itself. It returns a `DeliveryResult` or raises one of the shared failure types
(`shared.failures`): `PermanentError` (next way now), `TransientError` (retry later) or `ThrottledError`
(retry after the delay the provider asked for). The type alone decides what happens next.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from shared.messages.push import MessageBody


@dataclass(frozen=True)
class Delivery:
    """One message to one recipient on one way."""

    message_id: str
    body: MessageBody
    app: str
    source: str | None = None


@dataclass(frozen=True)
class DeliveryResult:
    way: str
    provider_reference: str | None = None


class Channel(ABC):
    name: ClassVar[str]
    max_title: ClassVar[int] = 256
    max_body: ClassVar[int] = 4096

    @abstractmethod
    async def send(self, target: str, delivery: Delivery) -> DeliveryResult:
        """Deliver to `target` (the way's bound address) or raise a `shared.failures` error."""
