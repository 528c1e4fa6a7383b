"""`account.mail.v1` → a mail to an account's own address (a sign-in or deletion code), by e-mail.

Run by the processes that run the e-mail channel. It is not an inbox message: no entry, no delivery
record, no other way. A mail that arrives after its code expired is dropped unsent. A transient failure
is retried through the bus on the channel's retry budget; on the last try it is logged and dropped, as is
a permanent one, instead of parked: the message holds a code, which must not linger in a parking queue,
and the user just asks for another.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from services.dispatcher.channels.account_mail_texts import body_of
from services.dispatcher.channels.base import Channel, Delivery
from services.dispatcher.consumers.send_once import send_once
from shared.bus import Subscription
from shared.data.push_ways import WayTarget
from shared.ids import now_ms
from shared.logs import get_logger
from shared.messages.account import AccountMailRequestedV1
from shared.topology import DISPATCHER_ACCOUNT_MAIL

log = get_logger("igot.dispatcher.account_mail")
APP = "iGot"


class AccountMailSender:
    def __init__(self, channel: Channel, *, delays: Sequence[float]) -> None:
        self._channel = channel
        self._delays = tuple(delays)

    def subscription(self) -> Subscription:
        return Subscription(
            queue=DISPATCHER_ACCOUNT_MAIL.name,
            models=DISPATCHER_ACCOUNT_MAIL.models,
            handler=self.handle,
            retry_delays=self._delays,
        )

    async def handle(self, request: AccountMailRequestedV1) -> None:
        # The address and the code stay out of the logs.
        structlog.contextvars.bind_contextvars(
            channel=self._channel.name, account_mail_id=request.request_id, purpose=request.purpose
        )
        if now_ms() >= request.expires_at:
            log.info("account mail dropped: its code expired before it could be sent")
            return
        delivery = Delivery(
            message_id=request.request_id, body=body_of(request), app=APP, created_at=request.created_at
        )
        await send_once(
            self._channel,
            WayTarget(way="email", key=request.email),
            delivery,
            what="account mail",
            retry_delays=self._delays,
        )
