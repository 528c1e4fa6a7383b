"""Binding WeChat: a QR code to scan, and the events WeChat sends the official account's callback.

`GET /open/push-way/wechat/bind` (an unbound way only, else ret 208) makes a temporary QR code whose
scene is a fresh random value remembered for the user for `QR_SECONDS`, and answers WeChat's image URL of
it (`IGOT_WECHAT_QRCODE_URL?ticket=`), its ticket and when it expires (epoch milliseconds).

The user scans it in WeChat; WeChat then calls the callback with an event from the user's open id:
`subscribe` with `EventKey` `qrscene_<scene>` when the scan made them follow the account, `SCAN` with
`<scene>` when they followed already. Either binds the scene's user's WeChat way to that open id,
verified at once (the scan is the proof), if the way is still unbound and the scene has not expired;
a scene binds once. `unsubscribe` unbinds every way bound to the open id: nothing reaches a follower
who left. Any other event or message is acknowledged and ignored.
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import quote

from services.auth.data import wechat_scenes
from services.auth.push_ways import status_of
from shared.data import push_ways
from shared.data.push_ways import UNBOUND, VERIFIED
from shared.envelope import ApiError, Ret, unavailable
from shared.failures import PermanentError, TransientError
from shared.ids import now_ms
from shared.logs import get_logger
from shared.store import Store
from shared.timefmt import iso_ms
from shared.wechat.account import OfficialAccount
from shared.wechat.api import errcode_of, errmsg_of

log = get_logger("igot.auth.wechat")

QR_SECONDS = 600
SCENE_PREFIX = "qrscene_"
# WeChat's open ids are 28 characters of this alphabet; anything else in `FromUserName` is refused.
OPENID = re.compile(r"[A-Za-z0-9_-]{1,64}")
SCENE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def scene_of(event: dict[str, str]) -> str | None:
    """The scene a `subscribe` or `SCAN` event names, or None."""
    key = event.get("EventKey", "")
    if event.get("Event") == "subscribe":
        if not key.startswith(SCENE_PREFIX):
            return None  # followed without a code of ours
        key = key[len(SCENE_PREFIX) :]
    return key if SCENE.fullmatch(key) else None


class WeChatBinding:
    def __init__(self, store: Store, account: OfficialAccount | None, *, qrcode_url: str) -> None:
        self._store = store
        self._account = account
        self._qrcode_url = qrcode_url

    async def new_qrcode(self, user_id: str) -> dict[str, str | int]:
        """`{qrcode, ticket, expireAt}` of a QR code whose scan binds the user's WeChat."""
        doc = await push_ways.get_for_user(self._store, user_id)
        status = status_of(doc, "wechat")
        if status != UNBOUND:
            state = "verified" if status == VERIFIED else "bound"
            raise ApiError(Ret.WRONG_STATE, f"cannot bind WeChat: it is {state}")
        account = self._account
        if account is None:
            raise ApiError(Ret.WRONG_STATE, "cannot bind WeChat: this server has no WeChat official account")
        scene = secrets.token_urlsafe(24)
        now = now_ms()
        await wechat_scenes.insert(
            self._store, scene=scene, user_id=user_id, created_at=now, expires_at=now + QR_SECONDS * 1000
        )
        try:
            answer = await account.tokens.call(
                lambda token: account.api.create_scene_qrcode(token, scene, seconds=QR_SECONDS)
            )
        except (TransientError, PermanentError) as error:
            await wechat_scenes.delete_by_scene(self._store, scene)
            log.warning("WeChat made no QR code", error=str(error))
            raise unavailable("WeChat could not make a QR code: retry later") from error
        ticket, seconds = answer.get("ticket"), answer.get("expire_seconds")
        if errcode_of(answer) != 0 or not isinstance(ticket, str) or not ticket:
            await wechat_scenes.delete_by_scene(self._store, scene)
            log.warning("WeChat made no QR code", errcode=errcode_of(answer), errmsg=errmsg_of(answer))
            raise unavailable("WeChat could not make a QR code: retry later")
        lifetime = min(QR_SECONDS, seconds) if isinstance(seconds, int) and seconds > 0 else QR_SECONDS
        log.info("WeChat QR code made")
        return {
            "qrcode": f"{self._qrcode_url}?ticket={quote(ticket, safe='')}",
            "ticket": ticket,
            "expireAt": iso_ms(now + lifetime * 1000),
        }

    async def handle_event(self, event: dict[str, str]) -> None:
        """One message WeChat delivered to the callback (its signature checked already)."""
        if event.get("MsgType") != "event":
            return
        openid = event.get("FromUserName", "")
        if not OPENID.fullmatch(openid):
            log.warning("WeChat event without a usable open id")
            return
        kind = event.get("Event")
        if kind in ("subscribe", "SCAN"):
            await self._scanned(openid, scene_of(event))
        elif kind == "unsubscribe":
            unbound = await push_ways.unbind_wechat_by_openid(self._store, openid)
            log.info("WeChat follower left: ways unbound", count=unbound)

    async def _scanned(self, openid: str, scene: str | None) -> None:
        if scene is None:
            return
        record = await wechat_scenes.take(self._store, scene, now=now_ms())
        if record is None:
            log.info("WeChat scan of an unknown or expired QR code")
            return
        if await push_ways.bind_wechat_verified(self._store, str(record["userId"]), openid):
            log.info("push way bound", way="wechat")
        else:
            log.info("WeChat scan ignored: the way is bound already")

    async def sweep(self) -> int:
        return await wechat_scenes.delete_expired_before(self._store, now_ms())
