"""Bus messages of the push family: what the gateway accepted, for the dispatcher (and later fan-out)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer

from shared.messages.base import BusMessage

BodyFormat = Literal["text", "markdown", "image"]


class MessageBody(BaseModel):
    """What the receiver sees; field names are the client API's.

    `format` says how to show `content`: plain `text`, `markdown`, or `image` (content is the image's
    address, also in `url`). Plain text is the default and is left out wherever a body is written (stored
    messages, bus messages, idempotency fingerprints), so bodies written before formats existed and
    bodies written now compare equal, and readers that predate formats keep reading plain messages.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str = ""
    content: str
    url: str = ""
    automaticallyCopy: int = 1
    copyText: str = ""
    format: BodyFormat = "text"

    @model_serializer(mode="wrap")
    def _without_plain_format(self, write: SerializerFunctionWrapHandler) -> dict[str, Any]:
        written: dict[str, Any] = write(self)
        if written.get("format") == "text":
            del written["format"]
        return written


class MessageAcceptedV1(BusMessage):
    """A push was stored by the gateway for one user; deliver it to their inbox and push ways."""

    type: Literal["message.accepted"] = "message.accepted"
    version: Literal[1] = 1

    message_id: str
    user_id: str
    key_kind: Literal["fixed", "temporary", "group", "app"] = "fixed"
    app: str = "iGot"
    source: str | None = None
    topic: str | None = None
    body: MessageBody
    extra: str | None = None  # the sender's other fields, as a JSON text (never parsed as a query)
    created_at: int  # epoch milliseconds


class MessageAcceptedV2(BusMessage):
    """A push was stored by the gateway (`shared.data.messages`): route it to its recipient.

    Carries ids and routing facts only; whoever needs the body reads the stored message. `user_id` is
    the recipient of a direct push (the key's owner); group links and app sends name theirs later.
    `strong`: deliver through push ways too (False: inbox only, a weak reminder).
    """

    type: Literal["message.accepted"] = "message.accepted"
    version: Literal[2] = 2

    message_id: str
    user_id: str
    key_kind: Literal["fixed", "temporary", "group", "app"] = "fixed"
    topic: str | None = None
    strong: bool = True
    urgent: bool = False  # pushed with `level=critical`: delivered through the recipient's quiet hours
    created_at: int  # epoch milliseconds, when the gateway accepted it
    # The recipient's inbox entry when it is not the message id (a group link's subscriber); left out
    # while unset, as version 2 was first written.
    entry_id: str | None = None

    @model_serializer(mode="wrap")
    def _without_unset_urgent(self, write: SerializerFunctionWrapHandler) -> dict[str, Any]:
        written: dict[str, Any] = write(self)
        if written.get("urgent") is False:
            del written["urgent"]  # as version 2 was first written, read alike by older routers
        if written.get("entry_id") is None:
            written.pop("entry_id", None)
        return written
