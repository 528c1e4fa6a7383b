"""What every channel is: a name, its limits, one `send`. The dispatcher owns retries and fallback.

A channel never retries by itself. It returns a `DeliveryResult` or raises one of the three errors below;
the error's type alone decides what happens next (next way now, retry later, or wait as told).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from shared.messages.push import MessageBody


class DeliveryError(Exception):
    """Base of channel failures."""


class PermanentDeliveryError(DeliveryError):
    """This way cannot deliver this message (bad target, refused): move on to the next way."""


class TransientDeliveryError(DeliveryError):
    """Might work later (timeout, 5xx): retry with backoff before moving on."""


class ThrottledError(TransientDeliveryError):
    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


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
        """Deliver to `target` (the way's bound address) or raise a `DeliveryError`."""
