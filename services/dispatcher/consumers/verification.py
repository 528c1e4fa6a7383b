"""`verify.<way>.v1` → the verification of a newly bound push way, sent through that way's channel.

It arrives on the way's delivery queue (`consumers.deliver` hands it here), so each channel's code lives
in one place. It is not an inbox message: no inbox entry, no delivery record, no fallback to another way.

* The way must still be bound to the key the request names, and not verified yet: a user who re-bound
  or unbound meanwhile (or already followed an earlier link) gets nothing, and the request is dropped.
* The channel sends the request's title, content and link as a message of the app "iGot" whose id is the
  request's (the webhook's `id`, the e-mail's `Message-ID`).
* A transient failure is retried through the bus on the way's retry budget; on the last try it is logged
  and dropped instead of parked, as is a permanent one: the user asks for another link (`/verify`) and
  nothing an operator could replay would help.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from services.dispatcher import rules
from services.dispatcher.channels.base import Channel, Delivery
from shared.bus import current_attempt
from shared.data import push_ways
from shared.failures import ThrottledError, TransientError, UnavailableError
from shared.logs import get_logger
from shared.messages.delivery import VerificationRequestedV1
from shared.messages.push import MessageBody
from shared.store import Store, StoreUnavailableError

log = get_logger("igot.dispatcher.verification")
APP = "iGot"


def delivery_of(request: VerificationRequestedV1) -> Delivery:
    return Delivery(
        message_id=request.request_id,
        body=MessageBody(title=request.title, content=request.content, url=request.url, automaticallyCopy=0),
        app=APP,
        created_at=request.created_at,
    )


class VerificationSender:
    def __init__(self, store: Store, channel: Channel, *, delays: Sequence[float]) -> None:
        self._store = store
        self._channel = channel
        self._delays = tuple(delays)

    async def handle(self, request: VerificationRequestedV1) -> None:
        structlog.contextvars.bind_contextvars(
            channel=request.way, verification_id=request.request_id, user_id=request.user_id
        )
        try:
            await self._handle(request)
        except StoreUnavailableError as error:
            raise UnavailableError(f"store unavailable: {error}") from error

    async def _handle(self, request: VerificationRequestedV1) -> None:
        doc = await push_ways.get_for_user(self._store, request.user_id)
        target = push_ways.target_of(doc, request.way, min_status=push_ways.BOUND)
        if target is None or target.key != request.key:
            log.info("verification dropped: the way is no longer bound to this key")
            return
        if push_ways.target_of(doc, request.way) is not None:
            log.info("verification dropped: the way is verified already")
            return
        outcome = await rules.attempt(self._channel, target, delivery_of(request))
        if outcome.result == "delivered":
            log.info("verification sent", latency_ms=outcome.latency_ms)
        elif outcome.result == "retry":
            error = outcome.error or "transient failure"
            self._retry_or_stop(
                TransientError(error)
                if outcome.retry_after is None
                else ThrottledError(error, retry_after=outcome.retry_after)
            )
        else:
            log.warning("verification not sent: the way refused it", error=outcome.error)

    def _retry_or_stop(self, error: TransientError) -> None:
        """Raise for the bus to retry while tries are left; on the last one, log and let it go."""
        attempt = current_attempt()
        if attempt <= len(self._delays):
            log.warning("verification will be retried", attempt=attempt, error=str(error))
            raise error
        log.warning("verification not sent: every try failed", attempt=attempt, error=str(error))
