"""Asking a push way's consumer to deliver an entry: one `DeliveryRequestedV1` on the way's routing key."""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from shared.bus import Bus, PublishError, TransientError
from shared.ids import new_id
from shared.messages.delivery import DeliveryRequestedV1
from shared.tracing import MESSAGE_HEADER, TRACE_HEADER


async def request_way(
    bus: Bus,
    *,
    entry_id: str,
    message_id: str,
    user_id: str,
    way: str,
    remaining: Sequence[str],
    created_at: int,
) -> None:
    """Request `way`, handing on the ways to try after it; a refused publish is retried by the bus."""
    request = DeliveryRequestedV1(
        request_id=new_id(),
        entry_id=entry_id,
        message_id=message_id,
        user_id=user_id,
        way=way,
        remaining=tuple(remaining),
        created_at=created_at,
    )
    # The trace of the message being handled continues into the request.
    headers = {MESSAGE_HEADER: message_id}
    trace_id = structlog.contextvars.get_contextvars().get("trace_id")
    if trace_id:
        headers[TRACE_HEADER] = str(trace_id)
    try:
        await bus.publish(request, headers=headers)
    except PublishError as error:
        raise TransientError(f"delivery on {request.way} not requested: {error}") from error
