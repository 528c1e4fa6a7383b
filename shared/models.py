"""Models of what users send, shared by every way in (push ingress now, the open platform later)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from shared.messages.push import MessageBody


class PushRequest(BaseModel):
    """A push after the field rules: body, topic, the sender's other fields, the retry key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    body: MessageBody
    topic: str | None = None
    extra: str | None = None  # the other fields as JSON text, shown to the receiver as debug JSON
    idempotency_key: str | None = None
    level: str | None = None  # how insistently to notify; `critical` passes the recipient's quiet hours

    @property
    def urgent(self) -> bool:
        return self.level == "critical"
