"""WeChat: a template message from the operator's official account to the follower the way is bound to.

`POST {api}/cgi-bin/message/template/send?access_token=` with `{touser: <open id>, template_id:
IGOT_WECHAT_TEMPLATE_ID, url, data: {title, content, time, source}, client_msg_id: <message id>}`. The
template must have the fields `{{title.DATA}}`, `{{content.DATA}}`, `{{time.DATA}}` and
`{{source.DATA}}`. Texts are cut to what WeChat shows of a field (a cut text ends with "…"); `time` is
when the push was accepted, in China Standard Time (the zone of WeChat's users; China has no daylight
saving); `source` is the app, or the temporary key or link the message came through. `url`, the page a
tap opens, is the message's own link, else the inbox (`IGOT_PUBLIC_URL`). `client_msg_id` makes WeChat
itself drop a second send of one message.

WeChat answers `{errcode, errmsg, msgid}`: 0 delivers; 43004 (the follower left the account) and 40003
(not an open id of this account) fail for good, and the way is unbound at once, as when the follower's
`unsubscribe` reaches the callback; 45009 and 45047 (the account's limits) are throttling; -1 (system
busy), 5xx and network failures are transient; a refused access token (40001, 42001, 40014) is renewed
and the send made once more (`shared.wechat.token`); any other errcode fails for good (a wrong template
id, a template without these fields).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar

from services.dispatcher.channels.base import Channel, Delivery, DeliveryResult
from shared.data.push_ways import WayTarget
from shared.failures import PermanentError, ThrottledError, TransientError
from shared.logs import get_logger
from shared.wechat.account import OfficialAccount
from shared.wechat.api import BUSY, LIMITED, RECIPIENT_GONE, errcode_of, errmsg_of

log = get_logger("igot.dispatcher.wechat")

CHINA_TIME = timezone(timedelta(hours=8), "CST")
ELLIPSIS = "…"
DEFAULT_APP = "iGot"
# WeChat lifts its limits at the next minute (45047) or day (45009): try again after this long.
LIMITED_RETRY_AFTER = 60.0
MAX_URL = 1024

ForgetRecipient = Callable[[str], Awaitable[int]]


def cut(text: str, limit: int) -> str:
    """`text` at most `limit` characters, marked with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def shown_time(created_at_ms: int) -> str:
    return (
        datetime.fromtimestamp(created_at_ms / 1000, UTC).astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M:%S")
    )


def source_of(delivery: Delivery) -> str:
    if delivery.app and delivery.app != DEFAULT_APP:
        return delivery.app
    return delivery.source or delivery.app or DEFAULT_APP


class WeChatChannel(Channel):
    name: ClassVar[str] = "wechat"
    # Characters WeChat shows of a template field; longer values are cut by WeChat or refused.
    max_title: ClassVar[int] = 64
    max_body: ClassVar[int] = 200
    max_source: ClassVar[int] = 32

    def __init__(
        self,
        account: OfficialAccount | None,
        *,
        template_id: str,
        public_url: str,
        forget_recipient: ForgetRecipient,
    ) -> None:
        self._account = account
        self._template_id = template_id
        self._inbox_url = public_url.rstrip("/") + "/"
        self._forget_recipient = forget_recipient

    def message(self, target: WayTarget, delivery: Delivery) -> dict[str, Any]:
        body = delivery.body
        url = body.url if body.url and len(body.url) <= MAX_URL else self._inbox_url
        data = {
            "title": cut(body.title or DEFAULT_APP, self.max_title),
            "content": cut(body.content, self.max_body),
            "time": shown_time(delivery.created_at),
            "source": cut(source_of(delivery), self.max_source),
        }
        return {
            "touser": target.key,
            "template_id": self._template_id,
            "url": url,
            "data": {field: {"value": value} for field, value in data.items()},
            "client_msg_id": delivery.message_id,
        }

    async def send(self, target: WayTarget, delivery: Delivery) -> DeliveryResult:
        account = self._account
        if account is None or not self._template_id:
            raise PermanentError("WeChat is not configured on this server")
        message = self.message(target, delivery)
        answer = await account.tokens.call(lambda token: account.api.send_template(token, message))
        code = errcode_of(answer)
        if code == 0:
            msgid = answer.get("msgid")
            return DeliveryResult(way=self.name, provider_reference=str(msgid) if msgid is not None else None)
        said = f"WeChat answered {code}: {errmsg_of(answer)}"
        if code in RECIPIENT_GONE:
            unbound = await self._forget_recipient(target.key)
            log.warning("WeChat follower gone: way unbound", errcode=code, unbound=unbound)
            raise PermanentError(said)
        if code in LIMITED:
            raise ThrottledError(said, retry_after=LIMITED_RETRY_AFTER)
        if code == BUSY:
            raise TransientError(said)
        raise PermanentError(said)
