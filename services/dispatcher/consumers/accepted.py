"""`message.accepted` → the recipient's inbox entry, then delivery on their first verified push way.

The entry's id is the message id (a direct push has one recipient), so a redelivered event finds its
entry instead of writing a second one. A group link's push reaches the router once per strong subscriber
with push ways, from fanout, which has written that subscriber's entry (`entry_id`, `pending`) already:
the router only requests its first way, as for a redelivered event.

Without a push way to try (a weak message, or no verified way) the entry is written `delivered`: one
store write per message. Otherwise it is written `pending` and the
first way's delivery is requested; the per-way consumers go on from there (`consumers.deliver`).

Version 1 carried the message itself; during the rollout of version 2 its message is stored here when
the gateway did not store it, then it is routed like version 2. A version 2 event is published only after
its message is stored (the gateway stores the message, then the outbox entry that publishes it), so it is
not read here: routing costs no read of the growing message collection. The push ways that decide the
route are read through a short-lived cache (`push_way_cache`); the per-way consumer reads the way again at
send time, so a way unbound meanwhile is never used.

During the recipient's quiet hours the entry is written at once and the first way's request is published
with the bus's delay, until they end (an urgent message, `level=critical`, is not held); the quiet hours
are read through the same kind of cache, so a change applies within a few seconds.
"""

from __future__ import annotations

import contextlib

import structlog

from services.dispatcher import rules
from services.dispatcher.clock import Clock, SystemClock
from services.dispatcher.requests import request_way
from shared.bus import Bus, Subscription
from shared.data import deliveries, delivery_preferences, inbox, messages, push_ways
from shared.failures import UnavailableError
from shared.ids import now_ms
from shared.logs import get_logger
from shared.messages.push import MessageAcceptedV1, MessageAcceptedV2
from shared.metrics import Metrics
from shared.store import Document, DuplicateKeyError, Store, StoreUnavailableError
from shared.topology import DELIVERY_WAYS, DISPATCHER_ACCEPTED
from shared.ttl_cache import TtlCache

log = get_logger("igot.dispatcher")
PUSH_WAYS_TTL_SECONDS = 5.0


class AcceptedHandler:
    def __init__(self, store: Store, bus: Bus, metrics: Metrics, *, clock: Clock | None = None) -> None:
        self._store = store
        self._bus = bus
        self._metrics = metrics
        self._clock = clock or SystemClock()
        self._push_ways = push_way_cache(store)
        self._preferences = preferences_cache(store)

    def subscription(self) -> Subscription:
        return Subscription(
            queue=DISPATCHER_ACCEPTED.name, models=DISPATCHER_ACCEPTED.models, handler=self.handle
        )

    async def handle(self, event: MessageAcceptedV1 | MessageAcceptedV2) -> None:
        structlog.contextvars.bind_contextvars(message_id=event.message_id)
        try:
            await self._handle(event)
        except StoreUnavailableError as error:
            raise UnavailableError(f"store unavailable: {error}") from error

    async def _handle(self, event: MessageAcceptedV1 | MessageAcceptedV2) -> None:
        if isinstance(event, MessageAcceptedV1):
            await _store_message_of(self._store, event)
            strong, urgent = True, False
        else:
            strong, urgent = event.strong, event.urgent
        ways = await self._ways(event.user_id) if strong else []
        entry_id = event.message_id
        if isinstance(event, MessageAcceptedV2) and event.entry_id is not None:
            entry_id = event.entry_id
        entry = inbox.new_entry(
            entry_id=entry_id,
            user_id=event.user_id,
            message_id=event.message_id,
            created_at=event.created_at,
            stored_at=now_ms(),
            status=rules.entry_status(ways),
        )
        if await inbox.insert_if_absent(self._store, entry):
            self._metrics.stage_latency.labels(stage="inbox").observe(
                max(0.0, (entry["storedAt"] - event.created_at) / 1000)
            )
            log.info("message in the inbox", status=entry["status"], ways=[way.way for way in ways])
        else:
            # Redelivered. A pending entry whose first way was never requested (a crash came between the
            # entry and the request) is requested now; once its record exists, the bus carries the rest.
            existing = await inbox.get_by_id(self._store, entry_id)
            if existing is None or existing.get("status") != "pending":
                return
            if not ways:
                if entry_id != event.message_id:
                    # Fanout saw a way the recipient has unbound since: the inbox is the delivery.
                    await inbox.set_summary(
                        self._store, entry_id, mode="inbox", status="delivered", only_from=("pending",)
                    )
                return
            if await deliveries.get_by_id(self._store, deliveries.record_id(entry_id, ways[0].way)):
                return
        if ways:
            first, *after = (way.way for way in ways)
            hold = await self._quiet_hold(event.user_id, urgent=urgent)
            if hold:
                log.info("delivery held for the quiet hours", hold_seconds=round(hold))
            await request_way(
                self._bus,
                entry_id=entry_id,
                message_id=event.message_id,
                user_id=event.user_id,
                way=first,
                remaining=after,
                created_at=event.created_at,
                urgent=urgent,
                delay_seconds=hold,
            )

    async def _quiet_hold(self, user_id: str, *, urgent: bool) -> float:
        if urgent:
            return 0.0
        quiet = delivery_preferences.quiet_hours_of(await self._preferences.get(user_id))
        return rules.quiet_hold_seconds(quiet, self._clock.now())

    async def _ways(self, user_id: str) -> list[push_ways.WayTarget]:
        """The user's verified ways this dispatcher has a channel for, in the user's order."""
        doc = await self._push_ways.get(user_id)
        return [way for way in push_ways.verified_in_order(doc) if way.way in DELIVERY_WAYS]


def push_way_cache(store: Store) -> TtlCache[str, Document | None]:
    """Push ways as the router reads them: once every few seconds per busy recipient."""

    async def load(user_id: str) -> Document | None:
        return await push_ways.get_for_user(store, user_id)

    return TtlCache(load, ttl_seconds=PUSH_WAYS_TTL_SECONDS)


def preferences_cache(store: Store) -> TtlCache[str, Document | None]:
    """Quiet hours as the router reads them, like the push ways."""

    async def load(user_id: str) -> Document | None:
        return await delivery_preferences.get_for_user(store, user_id)

    return TtlCache(load, ttl_seconds=PUSH_WAYS_TTL_SECONDS)


async def _store_message_of(store: Store, event: MessageAcceptedV1) -> None:
    """The message document a version 1 event carries, stored unless the gateway already did."""
    message = messages.new_message(
        message_id=event.message_id,
        sender_id=event.user_id,
        key_kind=event.key_kind,
        body=event.body,
        created_at=event.created_at,
        app=event.app,
        source=event.source,
        topic=event.topic,
        extra=event.extra,
    )
    with contextlib.suppress(DuplicateKeyError):
        await messages.insert(store, message)
