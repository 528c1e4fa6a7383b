"""Read escalation: a message delivered on one way and still unread after the user's delay goes out on
the next verified way in their order too, one way per step, until none is left.

When a way delivers, its consumer schedules a check (`schedule_check`): an `EscalationDueV1` published
with the bus's delay, the user's escalation minutes. The check (`EscalationHandler`, consumed by the
router on `dispatcher.escalation`) reads the inbox entry: gone or read (client API detail, mark read,
read all), it does nothing — reading is what cancels an escalation, so reading never has to publish
anything. Otherwise it requests the next untried verified way as an escalation (held by quiet hours
like any delivery unless urgent); when that way delivers, it schedules the next step the same way.

A way's consumer that finds a request of its way delivered already (a redelivery: a crash may have come
between the record and the check's publish) schedules the check again, so checks come in duplicates.
The first check of a step claims it (`deliveries.claim_escalation`, an insert with a unique `_id`) with
the way it chose; a later copy takes that way, and requests it again only when it has no delivery record
(its request was lost with a crash), never the way after it. Two requests of one way send once: the
way's delivery record (one per entry and way) settles it. An escalation that fails on every way left
never marks the entry failed: it was delivered.
"""

from __future__ import annotations

import structlog

from services.dispatcher import rules
from services.dispatcher.clock import Clock, SystemClock
from services.dispatcher.requests import request_way
from shared.bus import Bus, PublishError, Subscription, TransientError
from shared.data import deliveries, delivery_preferences, inbox, push_ways
from shared.failures import UnavailableError
from shared.ids import now_ms
from shared.logs import get_logger
from shared.messages.delivery import DeliveryRequestedV1, EscalationDueV1
from shared.store import Store, StoreUnavailableError
from shared.topology import DELIVERY_WAYS, DISPATCHER_ESCALATION
from shared.tracing import MESSAGE_HEADER, TRACE_HEADER

log = get_logger("igot.dispatcher.escalation")
MAX_MINUTES = 1440


async def schedule_check(
    store: Store, bus: Bus, request: DeliveryRequestedV1, *, minute_seconds: float
) -> None:
    """After `request.way` delivered: the check of the user's escalation delay, if they set one."""
    minutes = delivery_preferences.escalation_minutes_of(
        await delivery_preferences.get_for_user(store, request.user_id)
    )
    if not minutes:
        return
    due = EscalationDueV1(
        entry_id=request.entry_id,
        message_id=request.message_id,
        user_id=request.user_id,
        way=request.way,
        created_at=request.created_at,
        urgent=request.urgent,
    )
    headers = {MESSAGE_HEADER: request.message_id}
    trace_id = structlog.contextvars.get_contextvars().get("trace_id")
    if trace_id:
        headers[TRACE_HEADER] = str(trace_id)
    try:
        await bus.publish(due, headers=headers, delay_seconds=min(minutes, MAX_MINUTES) * minute_seconds)
    except PublishError as error:
        raise TransientError(f"escalation check not scheduled: {error}") from error
    log.info("escalation check scheduled", minutes=minutes)


class EscalationHandler:
    def __init__(self, store: Store, bus: Bus, *, clock: Clock | None = None) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock or SystemClock()

    def subscription(self) -> Subscription:
        return Subscription(
            queue=DISPATCHER_ESCALATION.name, models=DISPATCHER_ESCALATION.models, handler=self.handle
        )

    async def handle(self, due: EscalationDueV1) -> None:
        structlog.contextvars.bind_contextvars(message_id=due.message_id, channel=due.way)
        try:
            await self._handle(due)
        except StoreUnavailableError as error:
            raise UnavailableError(f"store unavailable: {error}") from error

    async def _handle(self, due: EscalationDueV1) -> None:
        entry = await inbox.get_by_id(self._store, due.entry_id)
        if entry is None or entry.get("read"):
            log.info("no escalation: the message was read or removed")
            return
        ways_doc = await push_ways.get_for_user(self._store, due.user_id)
        ways = [way.way for way in push_ways.verified_in_order(ways_doc) if way.way in DELIVERY_WAYS]
        tried = {record["way"] for record in await deliveries.list_for_entry(self._store, due.entry_id)}
        step = rules.escalation_step(ways, due.way, tried)
        if step.way is None:
            log.info("no escalation: no other verified way is left")
            return
        claim, claimed_now = await deliveries.claim_escalation(
            self._store,
            entry_id=due.entry_id,
            delivered_on=due.way,
            way=step.way,
            remaining=list(step.remaining),
            now=now_ms(),
        )
        next_way, remaining = str(claim["way"]), [str(way) for way in claim["remaining"]]
        if not claimed_now:
            # A duplicate check: the step's way was chosen before; requested again only if it was lost.
            record = await deliveries.get_by_id(self._store, deliveries.record_id(due.entry_id, next_way))
            if record is not None:
                log.info("escalation step taken already", next_way=next_way)
                return
        preferences = await delivery_preferences.get_for_user(self._store, due.user_id)
        hold = rules.quiet_hold_seconds(
            delivery_preferences.quiet_hours_of(preferences), self._clock.now(), urgent=due.urgent
        )
        await request_way(
            self._bus,
            entry_id=due.entry_id,
            message_id=due.message_id,
            user_id=due.user_id,
            way=next_way,
            remaining=remaining,
            created_at=due.created_at,
            escalation=True,
            urgent=due.urgent,
            delay_seconds=hold,
        )
        log.info("unread: escalated to the next way", next_way=next_way, hold_seconds=round(hold))
