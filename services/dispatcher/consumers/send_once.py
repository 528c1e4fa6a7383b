"""Sending what is not an inbox message — a push way's verification, a mail with an account's code — on
one way: no inbox entry, no delivery record, no fallback to another way.

A transient failure is raised for the bus to retry while the retry budget lasts; on the last try it is
logged and let go instead of parked, as is a permanent one. Such a message is only worth sending soon
(the user asks for another link or code), and nothing an operator could replay later would help.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.dispatcher import rules
from services.dispatcher.channels.base import Channel, Delivery
from shared.bus import current_attempt
from shared.data.push_ways import WayTarget
from shared.failures import ThrottledError, TransientError
from shared.logs import get_logger

log = get_logger("igot.dispatcher.send_once")


async def send_once(
    channel: Channel, target: WayTarget, delivery: Delivery, *, what: str, retry_delays: Sequence[float]
) -> None:
    """Send `delivery` (`what` names it in the logs: "verification", "account mail")."""
    outcome = await rules.attempt(channel, target, delivery)
    if outcome.result == "delivered":
        log.info(f"{what} sent", latency_ms=outcome.latency_ms)
        return
    if outcome.result != "retry":
        log.warning(f"{what} not sent: refused for good", error=outcome.error)
        return
    reason = outcome.error or "transient failure"
    error = (
        TransientError(reason)
        if outcome.retry_after is None
        else ThrottledError(reason, retry_after=outcome.retry_after)
    )
    attempt = current_attempt()
    if attempt <= len(retry_delays):
        log.warning(f"{what} will be retried", attempt=attempt, error=reason)
        raise error
    log.warning(f"{what} not sent: every try failed", attempt=attempt, error=reason)
