"""The deployment's one WeChat access token: fetched once, shared through the store, renewed by one process.

`current()` answers the token in force: from memory while it has more than `RENEW_MARGIN_MS` to live,
else from the store, else renewed. `replace(stale)` is for a token WeChat refused (errcode 40001,
42001, 40014): unless another process already stored a newer one, it is renewed at once. `call(send)`
wraps a call that needs the token and makes it once more with a new token when WeChat refused the first.

Renewing is claimed per generation in the store (`shared.data.wechat_tokens`): one process calls
`stable_token`; the others go on using the old token while it is still valid, or wait for the new one
(polling the store, at most `WAIT_SECONDS`, then a `TransientError`: the delivery is retried later).
In one process a lock makes concurrent sends share one read or renewal.

Renewal asks WeChat in normal mode first, which answers the token in force (WeChat renews it itself in
its last 5 minutes; `RENEW_MARGIN_MS` is shorter, so normal mode then hands out the new one). Only when
normal mode answers the very token WeChat just refused is a new one forced.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from shared.data import wechat_tokens
from shared.failures import PermanentError, ThrottledError, TransientError
from shared.ids import now_ms
from shared.logs import get_logger
from shared.store import Document, Store
from shared.wechat.api import BUSY, TOKEN_REJECTED, WeChatApi, errcode_of, errmsg_of

log = get_logger("igot.wechat.token")

# Renewed this long before it expires: inside WeChat's own 5-minute renewal window.
RENEW_MARGIN_MS = 4 * 60 * 1000
# A token this close to expiry is not handed out even while another process renews it.
LAST_USE_MS = 30 * 1000
# A renewal claimed longer ago than this is taken to have died with its process.
CLAIM_TIMEOUT_MS = 30 * 1000
CLAIMS_KEPT_MS = 24 * 3600 * 1000
WAIT_SECONDS = 10.0
POLL_SECONDS = 0.05
FORCED_RENEWAL_RETRY_AFTER = 60.0


@dataclass(frozen=True)
class CachedToken:
    token: str
    generation: int
    expires_at: int

    @classmethod
    def of(cls, doc: Document) -> CachedToken:
        return cls(str(doc["token"]), int(doc["generation"]), int(doc["expiresAt"]))

    def fresh(self, now: int) -> bool:
        return self.expires_at - RENEW_MARGIN_MS > now

    def usable(self, now: int) -> bool:
        return self.expires_at - LAST_USE_MS > now


class AccessTokens:
    def __init__(self, store: Store, api: WeChatApi, *, appid: str, secret: str) -> None:
        self._store = store
        self._api = api
        self._appid = appid
        self._secret = secret
        self._cached: CachedToken | None = None
        self._lock = asyncio.Lock()

    async def current(self) -> str:
        cached = self._cached
        if cached is not None and cached.fresh(now_ms()):
            return cached.token
        return await self._obtain(stale=None)

    async def replace(self, stale: str) -> str:
        """A token other than `stale`, which WeChat refused."""
        return await self._obtain(stale=stale)

    async def call(self, send: Callable[[str], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        """`send(token)`'s answer; made again with a new token once if WeChat refused the token."""
        token = await self.current()
        answer = await send(token)
        if errcode_of(answer) not in TOKEN_REJECTED:
            return answer
        log.info("WeChat refused the access token: renewing it", errcode=errcode_of(answer))
        answer = await send(await self.replace(token))
        if errcode_of(answer) in TOKEN_REJECTED:
            raise TransientError(f"WeChat refused a new access token too: {errmsg_of(answer)}")
        return answer

    async def _obtain(self, *, stale: str | None) -> str:
        async with self._lock:
            cached = self._cached
            if cached is not None and cached.fresh(now_ms()) and cached.token != stale:
                return cached.token
            deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
            while True:
                now = now_ms()
                doc = await wechat_tokens.get_latest(self._store, self._appid)
                latest = CachedToken.of(doc) if doc is not None else None
                if latest is not None and latest.fresh(now) and latest.token != stale:
                    self._cached = latest
                    return latest.token
                generation = latest.generation if latest is not None else 0
                if await wechat_tokens.claim_renewal(self._store, self._appid, generation, now=now):
                    renewed = await self._renew(generation, refused=stale)
                    self._cached = renewed
                    return renewed.token
                if latest is not None and latest.usable(now) and latest.token != stale:
                    return latest.token  # someone renews it; this one still works meanwhile
                if await wechat_tokens.take_over_stale_claim(
                    self._store, self._appid, generation, claimed_before=now - CLAIM_TIMEOUT_MS
                ):
                    log.warning("a WeChat token renewal was abandoned: taking it over")
                    continue
                if asyncio.get_running_loop().time() > deadline:
                    raise TransientError("the WeChat access token is being renewed: try again later")
                await asyncio.sleep(POLL_SECONDS)

    async def _renew(self, generation: int, *, refused: str | None) -> CachedToken:
        """Fetch and store generation `generation + 1`; the claim is given back if that fails."""
        try:
            token, expires_in = await self._fetch(force=False)
            if token == refused:
                token, expires_in = await self._fetch(force=True)
        except BaseException:
            await wechat_tokens.release_claim(self._store, self._appid, generation)
            raise
        now = now_ms()
        saved = await wechat_tokens.save(
            self._store,
            self._appid,
            generation + 1,
            token=token,
            expires_at=now + expires_in * 1000,
            now=now,
        )
        if saved is None:  # a renewal thought dead finished after all: its token is the newest
            doc = await wechat_tokens.get_latest(self._store, self._appid)
            if doc is None:
                raise TransientError("the WeChat access token vanished while renewed")
            return CachedToken.of(doc)
        await wechat_tokens.delete_before(
            self._store, self._appid, generation + 1, claims_before=now - CLAIMS_KEPT_MS
        )
        log.info("WeChat access token renewed", generation=generation + 1, expires_in=expires_in)
        return CachedToken.of(saved)

    async def _fetch(self, *, force: bool) -> tuple[str, int]:
        answer = await self._api.stable_token(self._appid, self._secret, force_refresh=force)
        code = errcode_of(answer)
        token, expires_in = answer.get("access_token"), answer.get("expires_in")
        if code == 0 and isinstance(token, str) and token and isinstance(expires_in, int) and expires_in > 0:
            return token, expires_in
        reason = f"WeChat refused an access token: {code} {errmsg_of(answer)}"
        if code == BUSY or code == 0:
            raise TransientError(reason)
        if code == 45009:  # forced renewals are limited per day
            raise ThrottledError(reason, retry_after=FORCED_RENEWAL_RETRY_AFTER)
        # A wrong appid or secret, an address not whitelisted: the operator must fix the account settings.
        raise PermanentError(reason)
