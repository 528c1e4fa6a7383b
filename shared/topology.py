"""Every durable queue on the bus and the messages it takes.

Each process declares the whole topology at start, so a publisher never meets an unbound routing key
because its consumer has not started yet (the message would otherwise wait in the outbox, or a delivery
request would fail to publish).

* `dispatcher.accepted` routes accepted messages (V1 and V2 during the rollout of V2);
* `dispatcher.deliver.<way>`, one per push way in `DELIVERY_WAYS`, bound to `deliver.<way>.v1` (deliveries)
  and `verify.<way>.v1` (the verification of a newly bound way);
* `dispatcher.account-mail` takes the mails auth sends to an account's address (sign-in and deletion
  codes); the processes that run the e-mail channel consume it;
* `dispatcher.escalation` takes the delayed read-escalation checks; the router consumes it;
* `moderation.group` takes the pushes to group links as the gateway accepted them (third-party content);
  moderation consumes it and publishes those that pass as `GroupMessageApprovedV1`. A moderation outage
  leaves them waiting here, durable: never lost, never delivered unchecked;
* `fanout.group` takes the approved pushes to group links and the pages of their expansion; fanout
  consumes it. It does not take `GroupMessageAcceptedV1`: nothing reaches subscribers unchecked.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.messages.account import AccountMailRequestedV1
from shared.messages.base import BusMessage
from shared.messages.delivery import (
    DeliveryRequestedV1,
    EscalationDueV1,
    VerificationRequestedV1,
    deliver_routing_key,
    verify_routing_key,
)
from shared.messages.group import FanoutPageV1, GroupMessageAcceptedV1, GroupMessageApprovedV1
from shared.messages.push import MessageAcceptedV1, MessageAcceptedV2


@dataclass(frozen=True)
class QueueSpec:
    name: str
    models: tuple[type[BusMessage], ...]
    # Topic patterns to bind; empty: each model's own routing key.
    routing_keys: tuple[str, ...] = ()


DISPATCHER_ACCEPTED = QueueSpec("dispatcher.accepted", (MessageAcceptedV1, MessageAcceptedV2))

# The push ways the dispatcher has a channel for; a verified way outside this list is not tried.
DELIVERY_WAYS: tuple[str, ...] = ("bark", "email", "wechat", "webhook")


def deliver_queue(way: str) -> QueueSpec:
    return QueueSpec(
        f"dispatcher.deliver.{way}",
        (DeliveryRequestedV1, VerificationRequestedV1),
        (deliver_routing_key(way), verify_routing_key(way)),
    )


DISPATCHER_DELIVER: dict[str, QueueSpec] = {way: deliver_queue(way) for way in DELIVERY_WAYS}

DISPATCHER_ACCOUNT_MAIL = QueueSpec("dispatcher.account-mail", (AccountMailRequestedV1,))

# Read escalation checks, published with the bus's delay once a way delivered; the router consumes them.
DISPATCHER_ESCALATION = QueueSpec("dispatcher.escalation", (EscalationDueV1,))

# Group links' pushes as accepted, checked before anyone receives them.
MODERATION_GROUP = QueueSpec("moderation.group", (GroupMessageAcceptedV1,))

# Group links' approved pushes, expanded a page of subscribers at a time; each page publishes the next.
FANOUT_GROUP = QueueSpec("fanout.group", (GroupMessageApprovedV1, FanoutPageV1))

QUEUES: tuple[QueueSpec, ...] = (
    DISPATCHER_ACCEPTED,
    *DISPATCHER_DELIVER.values(),
    DISPATCHER_ACCOUNT_MAIL,
    DISPATCHER_ESCALATION,
    MODERATION_GROUP,
    FANOUT_GROUP,
)
