"""Temporary links: push keys a user hands out, then pauses, resumes, renames or deletes.

A link is a push key of kind `temporary` (`shared.data.keys`) with a name, which its messages carry as
`source`, and a lifetime (`IGOT_TEMPORARY_LINK_TTL_DAYS`). Its state rules: pause only while active,
resume only while paused, rename while active or paused; once expired it can only be deleted; a deleted
link is gone for its owner (not listed, 203) while pushes through it are answered "gone". Someone else's
key and a key that does not exist are answered alike (203), so that nothing tells whose a key is.

A user may have `IGOT_TEMPORARY_LINKS_PER_USER` links that are neither deleted nor expired. Two creations
at once in two processes could both pass a count made before inserting, so each one counts again after
its insert and withdraws it when over the limit: a link kept was counted with every link kept before it,
so the limit holds without a counter that processes would race on.

Every change is announced on the bus, so that the gateways drop their cached copy of the key at once.
The list counts each link's messages, and finds its latest, by the link's non-secret `linkId`, which the
gateway stores on every message through it (never the key itself).
"""

from __future__ import annotations

import asyncio
import io
import unicodedata
from dataclasses import dataclass
from typing import Any

import segno

from services.auth.key_events import announce_keys_changed
from services.auth.link_keys import insert_within_cap
from shared.bus import Bus
from shared.data import keys, messages
from shared.data.keys import ACTIVE, DELETED, PAUSED, TemporaryLink
from shared.envelope import ApiError, Ret, invalid, not_found
from shared.ids import is_hex24, new_id, now_ms
from shared.logs import get_logger
from shared.store import Store
from shared.timefmt import iso_ms

MAX_NAME_LENGTH = 32
DAY_MS = 24 * 3600 * 1000
# Pixels per QR module: a code of a usual send URL comes out at about 300 pixels square.
QR_SCALE = 8
# Control characters (newlines and tabs among them) and line or paragraph separators: a name is one line.
_NOT_IN_A_NAME = frozenset({"Cc", "Zl", "Zp"})

log = get_logger("igot.auth.temporary_links")


@dataclass(frozen=True)
class LinkPolicy:
    public_url: str
    ttl_days: int
    per_user: int


@dataclass(frozen=True)
class NewLink:
    key: str
    expires_at: int


def valid_name(raw: object) -> str:
    """The name trimmed: 1 to 32 characters on one line, else ret 202."""
    if not isinstance(raw, str):
        raise invalid(f"name must be text of 1 to {MAX_NAME_LENGTH} characters")
    name = raw.strip()
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        raise invalid(f"name must be 1 to {MAX_NAME_LENGTH} characters")
    if any(unicodedata.category(char) in _NOT_IN_A_NAME for char in name):
        raise invalid("name must be one line without control characters")
    return name


def send_url(public_url: str, key: str) -> str:
    """Where a script sends through the link: `GET {url}<content>` or `POST {url}`."""
    return f"{public_url.rstrip('/')}/{key}/"


def qr_png(url: str) -> bytes:
    """A PNG of the QR code of `url` (error correction M, the usual quiet zone of 4 modules)."""
    buffer = io.BytesIO()
    segno.make_qr(url, error="m").save(buffer, kind="png", scale=QR_SCALE, border=4)
    return buffer.getvalue()


class TemporaryLinks:
    def __init__(self, store: Store, bus: Bus, policy: LinkPolicy) -> None:
        self._store = store
        self._bus = bus
        self._policy = policy

    async def create(self, user_id: str, name: object) -> NewLink:
        chosen = valid_name(name)
        now = now_ms()
        expires_at = now + self._policy.ttl_days * DAY_MS
        link_id = new_id()
        key = await insert_within_cap(
            insert=lambda key: keys.insert_temporary(
                self._store,
                value=key,
                user_id=user_id,
                name=chosen,
                link_id=link_id,
                created_at=now,
                expires_at=expires_at,
            ),
            count_live=lambda: keys.count_live_temporary(self._store, user_id, now=now),
            withdraw=lambda key: keys.withdraw_temporary(self._store, user_id, key),
            cap=self._policy.per_user,
            over_limit=self._over_limit,
        )
        log.info("temporary link created", link_id=link_id)
        return NewLink(key=key, expires_at=expires_at)

    async def page(self, user_id: str, *, skip: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """A page of the user's links, newest first, each with its message count and last use."""
        links, count = await keys.list_temporary_of_user(self._store, user_id, skip=skip, limit=limit)
        now = now_ms()
        shown = await asyncio.gather(*(self._shown(link, now) for link in links))
        return list(shown), count

    async def _shown(self, link: TemporaryLink, now: int) -> dict[str, Any]:
        sent, last = await asyncio.gather(
            messages.count_for_link(self._store, link.link_id),
            messages.last_sent_for_link(self._store, link.link_id),
        )
        return {
            "key": link.value,
            "name": link.name,
            "status": link.state(now),
            "expireAt": iso_ms(link.expires_at),
            "messages": sent,
            "lastUsed": iso_ms(last) if last is not None else None,
        }

    async def pause(self, user_id: str, key: str) -> None:
        await self._change(user_id, key, before=(ACTIVE,), after=PAUSED, refusal="the link is not active")

    async def resume(self, user_id: str, key: str) -> None:
        await self._change(user_id, key, before=(PAUSED,), after=ACTIVE, refusal="the link is not paused")

    async def delete(self, user_id: str, key: str) -> None:
        await self._change(
            user_id, key, before=(ACTIVE, PAUSED), after=DELETED, refusal="the link changed meanwhile"
        )

    async def rename(self, user_id: str, key: str, name: object) -> None:
        chosen = valid_name(name)
        link = await self._owned(user_id, key)
        now = now_ms()
        self._refuse_expired(link, now)
        if not await keys.rename_temporary(self._store, user_id, key, chosen, now=now):
            raise ApiError(Ret.WRONG_STATE, "the link changed meanwhile")
        log.info("temporary link renamed", link_id=link.link_id)
        await announce_keys_changed(self._bus, user_id=user_id, keys=[key])

    async def qr_code(self, user_id: str, key: str) -> bytes:
        """The PNG QR code of the link's send URL, for its owner."""
        await self._owned(user_id, key)
        return qr_png(send_url(self._policy.public_url, key))

    async def _change(
        self, user_id: str, key: str, *, before: tuple[str, ...], after: str, refusal: str
    ) -> None:
        link = await self._owned(user_id, key)
        now = now_ms()
        live_only = after != DELETED
        if live_only:
            self._refuse_expired(link, now)
        changed = await keys.change_temporary_status(
            self._store, user_id, key, before=before, after=after, now=now, live_only=live_only
        )
        if not changed:
            raise ApiError(Ret.WRONG_STATE, refusal)
        log.info("temporary link changed", link_id=link.link_id, status=after)
        await announce_keys_changed(self._bus, user_id=user_id, keys=[key])

    async def _owned(self, user_id: str, key: str) -> TemporaryLink:
        link = await keys.get_temporary_of_user(self._store, user_id, key) if is_hex24(key) else None
        if link is None:
            # The same answer whether the key is someone else's, deleted or never existed.
            raise not_found("no such temporary link")
        return link

    @staticmethod
    def _refuse_expired(link: TemporaryLink, now: int) -> None:
        if link.state(now) == "expired":
            raise ApiError(Ret.WRONG_STATE, "the link has expired: it can only be deleted")

    def _over_limit(self) -> ApiError:
        return ApiError(
            Ret.WRONG_STATE,
            f"at most {self._policy.per_user} temporary links that are neither deleted nor expired",
        )
