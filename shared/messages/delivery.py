"""Bus messages of the delivery family: the dispatcher asks one push way's consumer to deliver an entry.

Each way has its own routing key, `deliver.<way>.v1`, and its own queue, so one way's backlog or outage
never holds up another's and each way's consumers scale on their own.
"""

from __future__ import annotations

from typing import Literal

from shared.messages.base import BusMessage


def deliver_routing_key(way: str, version: int = 1) -> str:
    return f"deliver.{way}.v{version}"


class DeliveryRequestedV1(BusMessage):
    """Deliver inbox entry `entry_id` on `way`; should that way fail for good, go on with `remaining`.

    `request_id` is new at every publish (a bus retry carries the same one): a consumer that finds the
    way mid-send by another request knows it holds a duplicate, while its own redelivery after a crash
    resumes. `created_at` is when the push was accepted (the latency of each stage counts from it).
    """

    type: Literal["delivery.requested"] = "delivery.requested"
    version: Literal[1] = 1

    request_id: str
    entry_id: str
    message_id: str
    user_id: str
    way: str
    remaining: tuple[str, ...] = ()
    created_at: int  # epoch milliseconds

    @property
    def routing_key(self) -> str:
        return deliver_routing_key(self.way, self.version)
