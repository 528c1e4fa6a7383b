"""The bus port (`port.py`) and its adapters: `amqp.py` (RabbitMQ) and `inprocess.py` (standalone).

`handling.py` is what both adapters do with one delivery; `queue_table.py` keeps the in-process queues in
the standalone SQLite store; `amqp_ledger.py` and `amqp_parking.py` are the RabbitMQ topology ledger and
parking queues.
"""

from shared.bus.handling import current_attempt
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
    "current_attempt",
]
