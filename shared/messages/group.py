"""Bus messages of the group family: a push to a group link, expanded to its subscribers by fanout.

The gateway publishes `GroupMessageAcceptedV1` (through the outbox, like every accepted push) once the
message is stored; it names the link by its public id, never by its push key. A group push is third-party
content, so the moderation service takes it first and publishes `GroupMessageApprovedV1` (the same
fields) once it passed the check or an operator approved it; only that reaches fanout. The fanout service
expands it one page of subscribers at a time: each page's handler publishes the next page as
`FanoutPageV1`, so the bus itself holds the job's position between pages (see `services.fanout.expansion`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import SerializerFunctionWrapHandler, model_serializer

from shared.messages.base import BusMessage
from shared.messages.delivery import without_false


class GroupPush(BusMessage):
    """What the messages about one push to a group link carry (the base of the versions below)."""

    message_id: str
    sender_id: str  # the link's creator
    link_id: str  # the link's public subscribe id
    topic: str | None = None
    urgent: bool = False
    created_at: int  # epoch milliseconds, when the gateway accepted it

    @model_serializer(mode="wrap")
    def _without_unset_flags(self, write: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return without_false(write(self), "urgent")


class GroupMessageAcceptedV1(GroupPush):
    """A push through group link `link_id` was stored as `message_id`: check it (moderation), then deliver
    it to the subscribers."""

    type: Literal["group.accepted"] = "group.accepted"
    version: Literal[1] = 1


class GroupMessageApprovedV1(GroupPush):
    """The group push `message_id` passed moderation (or an operator approved it): deliver it to the
    subscribers."""

    type: Literal["group.approved"] = "group.approved"
    version: Literal[1] = 1


class FanoutPageV1(BusMessage):
    """Expand page `page` of the message's roster (`shared.data.fanout_rosters`). `token` is new at every
    publish of a page (a redelivery carries the same one), so that of two copies of one page only the
    first to start does its work. `after` is not read any more: pages used to be read from the
    subscriptions after it; messages of this version still queued carry it."""

    type: Literal["fanout.page"] = "fanout.page"
    version: Literal[1] = 1

    message_id: str
    sender_id: str
    link_id: str
    topic: str | None = None
    urgent: bool = False
    created_at: int
    page: int
    after: str = ""
    token: str

    @model_serializer(mode="wrap")
    def _without_unset_flags(self, write: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return without_false(write(self), "urgent")
