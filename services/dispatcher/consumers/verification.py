"""`verify.<way>.v1` → the verification of a newly bound push way, sent through that way's channel.

It arrives on the way's delivery queue (`consumers.deliver` hands it here), so each channel's code lives
in one place. It is not an inbox message: no inbox entry, no delivery record, no fallback to another way.

* The way must still be bound to the key the request names, and not verified yet: a user who re-bound
  or unbound meanwhile (or already followed an earlier link) gets nothing, and the request is dropped.
* The channel sends the request's title, content and link as a message of the app "iGot" whose id is the
  request's (the webhook's `id`, the e-mail's `Message-ID`).
* Failures are handled as for every one-off send (`send_once`): retried on the way's budget, then let go.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from services.dispatcher.channels.base import Channel, Delivery
from services.dispatcher.consumers.send_once import send_once
from shared.data import push_ways
from shared.failures import UnavailableError
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
        await send_once(
            self._channel, target, delivery_of(request), what="verification", retry_delays=self._delays
        )
