"""Bus messages of the delivery family: the dispatcher asks one push way's consumer to deliver an entry.

Each way has its own routing key, `deliver.<way>.v1`, and its own queue, so one way's backlog or outage
never holds up another's and each way's consumers scale on their own.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import SerializerFunctionWrapHandler, model_serializer

from shared.messages.base import BusMessage


def without_false(written: dict[str, Any], *flags: str) -> dict[str, Any]:
    """Optional flags added to a version are left out while false, so a message written without them
    and one written now compare equal, and readers of the version before them keep reading it."""
    for flag in flags:
        if written.get(flag) is False:
            del written[flag]
    return written


def deliver_routing_key(way: str, version: int = 1) -> str:
    return f"deliver.{way}.v{version}"


def verify_routing_key(way: str, version: int = 1) -> str:
    return f"verify.{way}.v{version}"


class DeliveryRequestedV1(BusMessage):
    """Deliver inbox entry `entry_id` on `way`; should that way fail for good, go on with `remaining`.

    `request_id` is new at every publish (a bus retry carries the same one): a consumer that finds the
    way mid-send by another request knows it holds a duplicate, while its own redelivery after a crash
    resumes. `created_at` is when the push was accepted (the latency of each stage counts from it). A request
    for a way whose delivery quiet hours hold is published with the bus's delay, not held by a task.
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
    # Delivered on another way already and still unread: a read escalation, which never marks the entry
    # failed (it was delivered) and is recorded as such in its attempts.
    escalation: bool = False
    urgent: bool = False  # `level=critical`: quiet hours do not hold it, nor its escalations

    @model_serializer(mode="wrap")
    def _without_unset_flags(self, write: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return without_false(write(self), "escalation", "urgent")

    @property
    def routing_key(self) -> str:
        return deliver_routing_key(self.way, self.version)


class VerificationRequestedV1(BusMessage):
    """Send the verification of a newly bound push way: one message with the link that verifies it.

    Published by auth when a way is bound (or the verification is sent again); consumed by the same
    per-way consumer as deliveries, so each channel's code lives in one place. `key` is the way's key at
    binding time: a verification for a key the user has since replaced is not sent. Not an inbox
    message: no entry, no delivery record, no fallback to another way.
    """

    type: Literal["verification.requested"] = "verification.requested"
    version: Literal[1] = 1

    request_id: str
    user_id: str
    way: str
    key: str
    title: str
    content: str
    url: str  # the verification link
    created_at: int  # epoch milliseconds

    @property
    def routing_key(self) -> str:
        return verify_routing_key(self.way, self.version)


class EscalationDueV1(BusMessage):
    """Check, once the user's escalation delay has passed since `way` delivered entry `entry_id`, whether
    it is still unread; if so, deliver it on the next verified way after `way` in the user's order.

    Published with the bus's delay by the way's consumer when it delivered; consumed by the router
    (`dispatcher.escalation`). Reading the message first makes the check find it read and stop.
    """

    type: Literal["delivery.escalation-due"] = "delivery.escalation-due"
    version: Literal[1] = 1

    entry_id: str
    message_id: str
    user_id: str
    way: str  # the way that delivered
    created_at: int  # epoch milliseconds, when the push was accepted
    urgent: bool = False

    @model_serializer(mode="wrap")
    def _without_unset_flags(self, write: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return without_false(write(self), "urgent")
