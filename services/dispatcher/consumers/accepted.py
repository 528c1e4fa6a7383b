"""`message.accepted` → the recipient's inbox entry, delivery on their push ways, and the status."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from services.dispatcher.channels.base import Channel, Delivery
from services.dispatcher.delivery import PushWay, deliver
from shared.bus import Subscription, TransientError
from shared.data import inbox, messages
from shared.ids import now_ms
from shared.logs import get_logger
from shared.messages.push import MessageAcceptedV1
from shared.store import Document, Store, StoreUnavailableError
from shared.topology import DISPATCHER_ACCEPTED

log = get_logger("igot.dispatcher")


class AcceptedHandler:
    def __init__(self, store: Store, channels: Mapping[str, Channel]) -> None:
        self._store = store
        self._channels = channels

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

    async def _handle(self, event: MessageAcceptedV1) -> None:
        await inbox.insert_if_absent(self._store, inbox.entry_for(event))
        entry = await inbox.get_for_user(self._store, event.user_id, event.message_id)
        if entry is not None and entry.get("status") != "delivered":
            # Redelivered after a crash mid-delivery: continue with the attempts already recorded.
            previous: list[dict[str, Any]] = list(entry.get("attempts", []))
            delivery = Delivery(
                message_id=event.message_id, body=event.body, app=event.app, source=event.source
            )
            try:
                outcome = await deliver(delivery, self._ways(entry), self._channels, previous=previous)
            except Exception as error:
                await inbox.record_delivery(
                    self._store, event.message_id, mode="inbox", status="retrying", attempts=previous
                )
                raise TransientError(str(error)) from error
            await inbox.record_delivery(
                self._store,
                event.message_id,
                mode=outcome.mode,
                status=outcome.status,
                attempts=outcome.attempts,
            )
            log.info("message delivered", mode=outcome.mode)
        await messages.mark_routed(self._store, event.message_id, now_ms())

    def _ways(self, entry: Document) -> list[PushWay]:
        # Push ways are bound through auth in a later release; until then every message stays in the inbox.
        return []
