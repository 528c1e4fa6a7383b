"""`message.accepted` → the recipient's inbox entry, delivery on their push ways, and the status."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from services.dispatcher.channels.base import Channel, Delivery
from services.dispatcher.delivery import PushWay, deliver
from shared.batching import IdBatcher
from shared.bus import Subscription, TransientError
from shared.data import inbox
from shared.logs import get_logger
from shared.messages.push import MessageAcceptedV1
from shared.store import Store, StoreUnavailableError
from shared.topology import DISPATCHER_ACCEPTED

log = get_logger("igot.dispatcher")


class AcceptedHandler:
    def __init__(self, store: Store, channels: Mapping[str, Channel], *, routed: IdBatcher | None) -> None:
        self._store = store
        self._channels = channels
        self._routed = routed

    def subscription(self) -> Subscription:
        return Subscription(
            queue=DISPATCHER_ACCEPTED.name, models=DISPATCHER_ACCEPTED.models, handler=self.handle
        )

    async def handle(self, event: MessageAcceptedV1) -> None:
        structlog.contextvars.bind_contextvars(message_id=event.message_id)
        try:
            await self._handle(event)
        except StoreUnavailableError as error:
            raise TransientError(f"store unavailable: {error}") from error
        if self._routed is not None:
            self._routed.add(event.message_id)

    async def _handle(self, event: MessageAcceptedV1) -> None:
        ways = self._ways(event)
        delivery = Delivery(message_id=event.message_id, body=event.body, app=event.app, source=event.source)
        entry = inbox.entry_for(event)
        if not ways:
            # Inbox only: the entry is final when written, one store write per message.
            outcome = await deliver(delivery, (), self._channels, previous=[])
            entry.update(mode=outcome.mode, status=outcome.status, attempts=outcome.attempts)
        if await inbox.insert_if_absent(self._store, entry):
            if ways:
                await self._deliver(delivery, ways, previous=[])
            log.info("message delivered", mode=entry["mode"] if not ways else "push")
            return
        # Redelivered: the entry exists. Finish what a previous try left undone, never deliver twice.
        existing = await inbox.get_for_user(self._store, event.user_id, event.message_id)
        if existing is not None and existing.get("status") != "delivered":
            await self._deliver(delivery, ways, previous=list(existing.get("attempts", [])))

    async def _deliver(
        self, delivery: Delivery, ways: list[PushWay], *, previous: list[dict[str, Any]]
    ) -> None:
        try:
            outcome = await deliver(delivery, ways, self._channels, previous=previous)
        except Exception as error:
            await inbox.record_delivery(
                self._store, delivery.message_id, mode="inbox", status="retrying", attempts=previous
            )
            raise TransientError(str(error)) from error
        await inbox.record_delivery(
            self._store,
            delivery.message_id,
            mode=outcome.mode,
            status=outcome.status,
            attempts=outcome.attempts,
        )

    def _ways(self, event: MessageAcceptedV1) -> list[PushWay]:
        # Push ways are bound through auth in a later release; until then every message stays in the inbox.
        return []
