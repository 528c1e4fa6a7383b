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
    escalation: bool = False,
    urgent: bool = False,
    delay_seconds: float = 0.0,
) -> None:
    """Request `way`, handing on the ways to try after it; a refused publish is retried by the bus.

    With `delay_seconds` (quiet hours) the bus holds the request back that long.
    """
    request = DeliveryRequestedV1(
        request_id=new_id(),
        entry_id=entry_id,
        message_id=message_id,
        user_id=user_id,
        way=way,
        remaining=tuple(remaining),
        created_at=created_at,
        escalation=escalation,
        urgent=urgent,
    )
    # The trace of the message being handled continues into the request.
    headers = {MESSAGE_HEADER: message_id}
    trace_id = structlog.contextvars.get_contextvars().get("trace_id")
    if trace_id:
        headers[TRACE_HEADER] = str(trace_id)
    try:
        await bus.publish(request, headers=headers, delay_seconds=delay_seconds)
    except PublishError as error:
        raise TransientError(f"delivery on {request.way} not requested: {error}") from error
