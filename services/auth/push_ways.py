"""Binding, verifying and ordering a user's push ways (Bark, e-mail, webhook; WeChat binds by a QR code,
`wechat_binding`, and is unbound here like every way).

A way is unbound (status 0), bound (1) or verified (2); only verified ways receive pushes. The seed's
state rules hold: bind only an unbound way, unbind a bound or verified one, send the verification again
only while bound; anything else is `ret 208`.

Binding stores the way as bound and sends it a verification: a message, through the way itself, whose
link (`{IGOT_PUBLIC_URL}/verify/<token>`) verifies it. It goes out over the bus to the way's own consumer
in the dispatcher, like any delivery, so each channel's code lives in one place. Verifications are
limited per user and way (one per `IGOT_VERIFICATION_INTERVAL_SECONDS`, `IGOT_VERIFICATIONS_PER_DAY` a
day), since each one reaches an address the user merely claims. A link works once, for 24 hours, and
only for the key it was sent to.
"""

from __future__ import annotations

import asyncio
import math
import secrets
from dataclasses import dataclass
from enum import Enum
from typing import Any

import structlog

from services.auth.data import verifications
from services.auth.push_way_targets import TargetRules, masked, new_target
from shared.bus import Bus, BusUnavailableError, PublishError
from shared.data import push_ways
from shared.data.push_ways import BOUND, UNBOUND, VERIFIED, WAYS
from shared.envelope import ApiError, Ret, invalid, unavailable
from shared.ids import new_id, now_ms
from shared.logs import get_logger
from shared.messages.delivery import VerificationRequestedV1
from shared.store import Document, Store
from shared.tracing import TRACE_HEADER

BINDABLE = ("bark", "email", "webhook")
LINK_TTL_MS = 24 * 3600 * 1000
DAY_MS = 24 * 3600 * 1000
PUBLISH_TIMEOUT_SECONDS = 5.0
# A link is 256 random bits, URL-safe: anything else in its place is no link of ours.
LINK_TOKEN_LENGTH = 43
WAY_NAMES = {"bark": "Bark", "email": "e-mail", "wechat": "WeChat", "webhook": "webhook"}

log = get_logger("igot.auth.push_ways")


class LinkOutcome(Enum):
    """What following a verification link did."""

    VERIFIED = "verified"
    ALREADY_VERIFIED = "already verified"
    USED = "used"
    EXPIRED = "expired"
    STALE = "stale"  # the way was unbound or bound to another key since
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class LinkResult:
    outcome: LinkOutcome
    way: str = ""


@dataclass(frozen=True)
class PushWayPolicy:
    public_url: str
    targets: TargetRules
    interval_seconds: int
    per_day: int


def status_of(doc: Document | None, way: str) -> int:
    settings = (doc or {}).get(way)
    status = settings.get("status") if isinstance(settings, dict) else None
    return status if status in (UNBOUND, BOUND, VERIFIED) else UNBOUND


def orders_of(doc: Document | None) -> list[str]:
    """The user's order with every way in it: the stored ones first, the missing ones after, as defaults."""
    stored = (doc or {}).get("orders")
    listed = [way for way in stored if way in WAYS] if isinstance(stored, list) else []
    return list(dict.fromkeys([*listed, *WAYS]))


def overview(doc: Document | None) -> dict[str, Any]:
    """`GET /open/push-way/`: every way with its masked key and status, and the full order."""
    shown: dict[str, Any] = {}
    for way in WAYS:
        status = status_of(doc, way)
        settings = (doc or {}).get(way)
        key = settings.get("key") if isinstance(settings, dict) and status != UNBOUND else ""
        shown[way] = {"key": masked(way, key) if isinstance(key, str) else "", "status": status}
    shown["orders"] = orders_of(doc)
    return {"pushWay": shown}


def valid_orders(orders: object) -> list[str]:
    if not isinstance(orders, list) or not orders:
        raise invalid(f"orders must be a list of push ways: {', '.join(WAYS)}")
    if not all(isinstance(way, str) and way in WAYS for way in orders):
        raise invalid(f"orders may name only these push ways: {', '.join(WAYS)}")
    if len(set(orders)) != len(orders):
        raise invalid("orders must name each push way once")
    return list(orders)


class PushWays:
    def __init__(self, store: Store, bus: Bus, policy: PushWayPolicy) -> None:
        self._store = store
        self._bus = bus
        self._policy = policy

    async def overview(self, user_id: str) -> dict[str, Any]:
        return overview(await push_ways.get_for_user(self._store, user_id))

    async def set_orders(self, user_id: str, orders: object) -> None:
        await push_ways.set_orders(self._store, user_id, valid_orders(orders))

    async def bind(self, user_id: str, way: str, key: object) -> dict[str, str]:
        """Bind and send the verification; the answer's data (a webhook's secret, shown this once)."""
        self._require_status(await push_ways.get_for_user(self._store, user_id), way, (UNBOUND,), "bind")
        target = await new_target(way, key, self._policy.targets)
        send_id = await self._claim_send(user_id, way)
        await push_ways.bind(self._store, user_id, way, {"key": target.key, **target.stored})
        try:
            await self._send_verification(user_id, way, target.key)
        except ApiError:
            # Back to where the user started, so that binding again is all it takes.
            await push_ways.unbind(self._store, user_id, way)
            await verifications.delete_send(self._store, send_id)
            raise
        log.info("push way bound", way=way)
        return target.shown_once

    async def unbind(self, user_id: str, way: str) -> None:
        doc = await push_ways.get_for_user(self._store, user_id)
        self._require_status(doc, way, (BOUND, VERIFIED), "unbind")
        await self._unbind(user_id, way)

    async def send_again(self, user_id: str, way: str) -> None:
        doc = await push_ways.get_for_user(self._store, user_id)
        self._require_status(doc, way, (BOUND,), "verify")
        settings = (doc or {}).get(way) or {}
        send_id = await self._claim_send(user_id, way)
        try:
            await self._send_verification(user_id, way, str(settings.get("key", "")))
        except ApiError:
            await verifications.delete_send(self._store, send_id)
            raise

    async def follow_link(self, token: str) -> LinkResult:
        """`GET /verify/<token>`: verifies the way the link was sent to, once."""
        if len(token) != LINK_TOKEN_LENGTH:
            return LinkResult(LinkOutcome.UNKNOWN)
        record = await verifications.get_by_token(self._store, token)
        if record is None:
            return LinkResult(LinkOutcome.UNKNOWN)
        way, user_id, key = str(record["way"]), str(record["userId"]), str(record["key"])
        if await verifications.is_used(self._store, token):
            return LinkResult(LinkOutcome.USED, way)
        if record["expiresAt"] <= now_ms():
            return LinkResult(LinkOutcome.EXPIRED, way)
        if not await verifications.mark_used(self._store, token, record):
            return LinkResult(LinkOutcome.USED, way)
        if await push_ways.mark_verified(self._store, user_id, way, key):
            log.info("push way verified", way=way)
            return LinkResult(LinkOutcome.VERIFIED, way)
        target = push_ways.target_of(await push_ways.get_for_user(self._store, user_id), way)
        if target is not None and target.key == key:
            return LinkResult(LinkOutcome.ALREADY_VERIFIED, way)
        return LinkResult(LinkOutcome.STALE, way)

    async def unsubscribe_address(self, token: str) -> str | None:
        """The masked address an unsubscribe link stops mails to, or None when no binding has it."""
        doc = await self._by_unsubscribe_token(token)
        return masked("email", str(doc["email"]["key"])) if doc is not None else None

    async def unsubscribe(self, token: str) -> bool:
        """Unbind the e-mail way whose unsubscribe link this is (RFC 8058 one-click); False if none."""
        doc = await self._by_unsubscribe_token(token)
        if doc is None:
            return False
        await self._unbind(str(doc["_id"]), "email")
        return True

    async def _by_unsubscribe_token(self, token: str) -> Document | None:
        if not 16 <= len(token) <= 64:
            return None
        doc = await push_ways.get_by_unsubscribe_token(self._store, token)
        return doc if doc is not None and status_of(doc, "email") != UNBOUND else None

    async def _unbind(self, user_id: str, way: str) -> None:
        await push_ways.unbind(self._store, user_id, way)
        await verifications.delete_for_way(self._store, user_id, way)
        log.info("push way unbound", way=way)

    @staticmethod
    def _require_status(doc: Document | None, way: str, allowed: tuple[int, ...], action: str) -> None:
        status = status_of(doc, way)
        if status not in allowed:
            state = {UNBOUND: "not bound", BOUND: "bound, not verified yet", VERIFIED: "verified"}[status]
            raise ApiError(Ret.WRONG_STATE, f"cannot {action} {WAY_NAMES[way]}: it is {state}")

    async def _claim_send(self, user_id: str, way: str) -> str:
        """Count this verification, or refuse it with 205 while the way's limits are used up.

        Inserted first and counted after, so two requests at the same moment both see each other: at
        worst both are refused, never both sent.
        """
        now = now_ms()
        send_id = await verifications.record_send(self._store, user_id=user_id, way=way, at_ms=now)
        sends = await verifications.sends_since(self._store, user_id, way, now - DAY_MS)
        others = [int(send["at"]) for send in sends if send["_id"] != send_id]
        interval_ms = self._policy.interval_seconds * 1000
        waits = [at + interval_ms - now for at in others if at > now - interval_ms]
        if len(others) >= self._policy.per_day:
            waits.append(others[len(others) - self._policy.per_day] + DAY_MS - now)
        if waits:
            await verifications.delete_send(self._store, send_id)
            seconds = max(1, math.ceil(max(waits) / 1000))
            raise ApiError(Ret.RATE_LIMITED, f"a verification was sent recently: try again in {seconds} s")
        return send_id

    async def _send_verification(self, user_id: str, way: str, key: str) -> None:
        token = secrets.token_urlsafe(32)
        now = now_ms()
        await verifications.insert(
            self._store,
            token=token,
            user_id=user_id,
            way=way,
            key=key,
            created_at=now,
            expires_at=now + LINK_TTL_MS,
        )
        link = f"{self._policy.public_url.rstrip('/')}/verify/{token}"
        name = WAY_NAMES[way]
        request = VerificationRequestedV1(
            request_id=new_id(),
            user_id=user_id,
            way=way,
            key=key,
            title=f"Verify your {name} on iGot",
            content=(
                f"Open this link to start receiving your iGot pushes by {name}: {link}\n"
                "It works once, within 24 hours. If you did not ask for this, ignore this message."
            ),
            url=link,
            created_at=now,
        )
        trace_id = structlog.contextvars.get_contextvars().get("trace_id")
        headers = {TRACE_HEADER: str(trace_id)} if trace_id else None
        try:
            await asyncio.wait_for(self._bus.publish(request, headers=headers), PUBLISH_TIMEOUT_SECONDS)
        except (PublishError, BusUnavailableError, TimeoutError) as error:
            log.warning("verification not sent", way=way, error=str(error))
            await verifications.delete_by_token(self._store, token)
            raise unavailable("the verification could not be sent: retry later") from error
        log.info("verification sent", way=way)
