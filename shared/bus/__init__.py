"""The bus port (`port.py`) and its adapters: `amqp.py` (RabbitMQ) and `inprocess.py` (standalone)."""

from shared.bus.port import (
    Bus,
    BusUnavailableError,
    ParkedMessage,
    PermanentError,
    PublishError,
    Subscription,
    TransientError,
)

__all__ = [
    "Bus",
    "BusUnavailableError",
    "ParkedMessage",
    "PermanentError",
    "PublishError",
    "Subscription",
    "TransientError",
]
