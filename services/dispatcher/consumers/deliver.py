"""`deliver.<way>.v1` → one try on one push way, recorded before and after the send.

One consumer per way, each on its own queue with the channel's retry budget. For a request:

1. load the delivery record, or write it `pending`;
2. `delivered` already: nothing is sent (a redelivered request never calls a way twice after it
   succeeded); `failed` already: nothing is sent, and the next way is requested again only if its request
   was lost; mid-send for another request: that request finishes it (or is redelivered itself);
3. the way is done (last attempt failed for good, or its budget used up): move on to the next way;
4. claim the try, count it (`sending`) before the send, send, append the attempt with its outcome;
   delivered: the inbox entry says so; transient with tries left: the bus retries after its next delay;
   otherwise request the next way, or, with none left, the entry says `failed` (it stays in the inbox).

A send that succeeded just before a crash, with its attempt not yet written, is sent again when the
request is redelivered: delivery is at least once, exactly once in every other case. The record's `tries`
is always at least the bus's attempt number, so the consumer never asks the bus for more retries than
it has delays: parking stays for bugs and poison messages only.

A delivery made while the user set a read-escalation delay schedules the check that escalates it if it
stays unread (`consumers.escalation`), and so does a redelivered request that finds it delivered (the
first check may have been lost with a crash before the request was done); an escalation request's
attempts say `escalation: true`, and its ways failing for good leave the entry as it was (delivered),
never `failed`.

The same queue carries the verifications of newly bound ways (`verify.<way>.v1`): one subscription takes
both models and hands a verification to `consumers.verification`, which sends it through the same channel.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import structlog

from services.dispatcher import rules
from services.dispatcher.channels.base import Channel, Delivery
from services.dispatcher.consumers.escalation import schedule_check
from services.dispatcher.consumers.verification import VerificationSender
from services.dispatcher.requests import request_way
from shared.bus import Bus, Subscription, TransientError
from shared.data import deliveries, inbox, messages, push_ways
from shared.failures import ThrottledError, UnavailableError
from shared.ids import now_ms
from shared.logs import get_logger
from shared.messages.delivery import DeliveryRequestedV1, VerificationRequestedV1
from shared.metrics import Metrics
from shared.store import Store, StoreUnavailableError
from shared.topology import DISPATCHER_DELIVER, QueueSpec

log = get_logger("igot.dispatcher.deliver")


class DeliverHandler:
    def __init__(
        self,
        store: Store,
        bus: Bus,
        metrics: Metrics,
        channel: Channel,
        *,
        delays: Sequence[float],
        prefetch: int | None = None,
        escalation_minute_seconds: float = 60.0,
    ) -> None:
        self._prefetch = prefetch
        self._minute_seconds = escalation_minute_seconds
        self._store = store
        self._bus = bus
        self._metrics = metrics
        self._channel = channel
        self._delays = tuple(delays)
        self.queue: QueueSpec = DISPATCHER_DELIVER[channel.name]
        self._verifications = VerificationSender(store, channel, delays=self._delays)

    def subscription(self) -> Subscription:
        return Subscription(
            queue=self.queue.name,
            models=self.queue.models,
            handler=self.handle,
            routing_keys=self.queue.routing_keys,
            retry_delays=self._delays,
            prefetch=self._prefetch,
        )

    async def handle(self, request: DeliveryRequestedV1 | VerificationRequestedV1) -> None:
        if isinstance(request, VerificationRequestedV1):
            await self._verifications.handle(request)
            return
        structlog.contextvars.bind_contextvars(message_id=request.message_id, channel=request.way)
        try:
            await self._handle(request)
        except StoreUnavailableError as error:
            raise UnavailableError(f"store unavailable: {error}") from error

    async def _handle(self, request: DeliveryRequestedV1) -> None:
        tries = await self._begin_try(request)
        if tries is None:
            return
        record_id = deliveries.record_id(request.entry_id, request.way)
        outcome = await self._send(request)
        decision = rules.after_attempt(outcome, tries=tries, delays=self._delays)
        attempt = outcome.as_attempt(request.way, at=now_ms())
        if request.escalation:
            attempt["escalation"] = True
        if decision.status == "delivered":
            # Both before the ack: a crash in between finds the record `delivered` and says it again.
            await asyncio.gather(
                deliveries.add_attempt(self._store, record_id, attempt, status=decision.status),
                inbox.set_summary(self._store, request.entry_id, mode=request.way, status="delivered"),
            )
            self._metrics.stage_latency.labels(stage="delivered").observe(_since(request.created_at))
            log.info("message delivered", tries=tries, escalation=request.escalation)
            await schedule_check(self._store, self._bus, request, minute_seconds=self._minute_seconds)
            return
        await deliveries.add_attempt(self._store, record_id, attempt, status=decision.status)
        if decision.retry:
            log.warning("delivery will be retried", tries=tries, error=outcome.error)
            if outcome.retry_after is not None:
                raise ThrottledError(outcome.error or "throttled", retry_after=outcome.retry_after)
            raise TransientError(outcome.error or "transient failure")
        else:
            log.warning("way failed", tries=tries, error=outcome.error)
            await self._fall_back(request, record_id)

    async def _begin_try(self, request: DeliveryRequestedV1) -> int | None:
        """The number of the try to make now, its record written `sending` first; None: nothing to send.

        The first request of a way inserts its record already `sending` (one write, and the insert settles
        a race between two copies); a record that exists says what happened before.
        """
        now = now_ms()
        record = await deliveries.begin(
            self._store,
            entry_id=request.entry_id,
            message_id=request.message_id,
            user_id=request.user_id,
            way=request.way,
            request_id=request.request_id,
            now=now,
        )
        if record is None:
            return 1
        status = record["status"]
        if status == "delivered":
            # Said again in case a crash came between the record and the entry; never sent again. The
            # escalation check is scheduled again too: its publish may have been lost with that crash
            # (a duplicate check never escalates twice: `consumers.escalation`).
            await inbox.set_summary(
                self._store,
                request.entry_id,
                mode=request.way,
                status="delivered",
                only_from=("pending", "failed"),
            )
            log.info("delivery already settled", status=status)
            await schedule_check(self._store, self._bus, request, minute_seconds=self._minute_seconds)
            return None
        if status == "failed":
            # Moved on already, unless a crash lost the request of the next way (a publish made while
            # handling is only kept once the handled message is done): then it is made again.
            await self._move_on(request, only_if_lost=True)
            return None
        if status == "sending" and record.get("requestId") != request.request_id:
            log.info("delivery under way for another request")
            return None
        if rules.must_fall_back(record, self._delays):
            await self._fall_back(request, record["_id"])
            return None
        tries = int(record["tries"]) + 1
        if not await deliveries.claim_try(
            self._store, record["_id"], tries, request_id=request.request_id, now=now
        ):
            log.info("try claimed by another copy of the request", tries=tries)
            return None
        await deliveries.start_try(self._store, record["_id"], request_id=request.request_id, now=now)
        return tries

    async def _send(self, request: DeliveryRequestedV1) -> rules.AttemptOutcome:
        """Body and target are read at send time: the user may have unbound the way meanwhile."""
        message, ways = await asyncio.gather(
            messages.get_by_id(self._store, request.message_id),
            push_ways.get_for_user(self._store, request.user_id),
        )
        if message is None:
            return rules.message_gone()
        target = push_ways.target_of(ways, request.way)
        if target is None:
            return rules.way_gone()
        return await rules.attempt(self._channel, target, Delivery.of_message(message))

    async def _fall_back(self, request: DeliveryRequestedV1, delivery_id: str) -> None:
        """Request the next way, or settle the entry `failed`; only then is this way's record `failed`."""
        await self._move_on(request, only_if_lost=False)
        await deliveries.mark_failed(self._store, delivery_id, now=now_ms())

    async def _move_on(self, request: DeliveryRequestedV1, *, only_if_lost: bool) -> None:
        step = rules.next_step(request.remaining)
        if step.way is None and request.escalation:
            log.warning("escalation failed on every way left; the message was delivered before")
            return
        if step.way is None:
            await inbox.set_summary(self._store, request.entry_id, mode=rules.INBOX, status="failed")
            log.warning("every push way failed; the message stays in the inbox")
            return
        next_record = deliveries.record_id(request.entry_id, step.way)
        if only_if_lost and await deliveries.get_by_id(self._store, next_record) is not None:
            return
        await request_way(
            self._bus,
            entry_id=request.entry_id,
            message_id=request.message_id,
            user_id=request.user_id,
            way=step.way,
            remaining=step.remaining,
            created_at=request.created_at,
            escalation=request.escalation,
            urgent=request.urgent,
        )
        log.info("falling back to the next way", next_way=step.way)


def _since(created_at_ms: int) -> float:
    return max(0.0, (now_ms() - created_at_ms) / 1000)


def consumers(
    store: Store,
    bus: Bus,
    metrics: Metrics,
    channels: dict[str, Channel],
    *,
    delays: Sequence[float],
    prefetch: int | None = None,
    escalation_minute_seconds: float = 60.0,
) -> list[DeliverHandler]:
    """One handler per channel; each way retries on its own budget (the channel's, else `delays`) and
    has `prefetch` deliveries in flight (most of their time is spent waiting on the network)."""
    return [
        DeliverHandler(
            store,
            bus,
            metrics,
            channel,
            delays=delays if channel.retry_delays is None else channel.retry_delays,
            prefetch=prefetch,
            escalation_minute_seconds=escalation_minute_seconds,
        )
        for channel in channels.values()
    ]
