"""Accepting a push: resolve the key, store the message durably, publish it.

The sender hears success only once the message is stored. Publishing is attempted at once; when the bus
does not confirm in time the message stays `accepted` and the outbox relay publishes it later, so nothing
acknowledged is stranded.
"""

from __future__ import annotations

import asyncio
import hashlib

from services.gateway.key_cache import KeyCache
from services.gateway.outbox import OutboxRelay
from shared.bus import Bus, BusUnavailableError, PublishError
from shared.bus.port import MESSAGE_HEADER, TRACE_HEADER
from shared.data import outbox
from shared.data.keys import PushKey
from shared.envelope import ApiError, Ret, not_found
from shared.ids import is_hex24, new_id, now_ms
from shared.logs import get_logger
from shared.messages.push import MessageAcceptedV1
from shared.models import PushRequest
from shared.store import DuplicateKeyError, Store

log = get_logger("igot.gateway.ingress")


class Ingress:
    def __init__(
        self,
        store: Store,
        bus: Bus,
        key_cache: KeyCache,
        relay: OutboxRelay,
        *,
        publish_timeout: float = 2.0,
    ) -> None:
        self._store = store
        self._bus = bus
        self._keys = key_cache
        self._relay = relay
        self._publish_timeout = publish_timeout

    async def accept(self, key_value: str, fields: PushRequest, *, trace_id: str) -> str:
        key = await self._resolve(key_value)
        message_id = _message_id(key.value, fields.idempotency_key)
        event = MessageAcceptedV1(
            message_id=message_id,
            user_id=key.user_id,
            key_kind="temporary" if key.kind == "temporary" else "fixed",
            source=key.name if key.kind == "temporary" else None,
            topic=fields.topic,
            body=fields.body,
            extra=fields.extra,
            created_at=now_ms(),
        )
        try:
            await outbox.insert(self._store, event)
        except DuplicateKeyError:
            # The same idempotency key, its first send still in flight: that one will arrive.
            log.info("idempotent repeat", message_id=message_id)
            return message_id
        # A repeat after the first send arrived is published again; the dispatcher finds the inbox entry
        # under the same id and delivers nothing twice.
        log.info("push accepted", message_id=message_id, key_kind=event.key_kind)
        await self._publish(event, trace_id)
        return message_id

    async def _resolve(self, key_value: str) -> PushKey:
        if not is_hex24(key_value):
            raise not_found("unknown push key")
        key = await self._keys.get(key_value)
        if key is None or key.status == "deleted":
            raise not_found("unknown push key") if key is None else _gone("push key was deleted")
        if key.status == "paused":
            raise ApiError(Ret.KEY_INACTIVE, "push key is paused", http_status=403)
        if key.expires_at is not None and key.expires_at <= now_ms():
            raise _gone("push key has expired")
        if key.kind == "group":
            # Group links are expanded by the fan-out service, which this release does not run yet.
            raise ApiError(
                Ret.WRONG_STATE, "group links are not supported by this server yet", http_status=400
            )
        return key

    async def _publish(self, event: MessageAcceptedV1, trace_id: str) -> None:
        headers = {TRACE_HEADER: trace_id, MESSAGE_HEADER: event.message_id}
        try:
            await asyncio.wait_for(self._bus.publish(event, headers=headers), self._publish_timeout)
        except (PublishError, BusUnavailableError, TimeoutError) as error:
            log.warning("publish deferred to the outbox relay", message_id=event.message_id, error=str(error))
            self._relay.failed(event)
            return
        self._relay.confirmed(event.message_id)


def _gone(reason: str) -> ApiError:
    return ApiError(Ret.KEY_INACTIVE, reason, http_status=410)


def _message_id(key_value: str, idempotency_key: str | None) -> str:
    """With an idempotency key the id is derived from it, so a repeat collides with the first insert."""
    if idempotency_key is None:
        return new_id()
    return hashlib.sha256(f"{key_value}\0{idempotency_key}".encode()).hexdigest()[:24]
