"""Accepting a push: resolve the key, store the message and its outbox entry, publish the event.

The sender hears success only once both are stored: the message (stored once, whatever the number of
inboxes it reaches) and the outbox entry carrying the `MessageAcceptedV2` event (ids and routing facts,
no body). The event is published at once, without the sender waiting for the bus: the outbox entry
already makes it safe. When the bus does not confirm, the entry stays and the outbox relay publishes it
later, so nothing acknowledged is stranded.

Every message gets a fresh id, which says nothing about the key or the idempotency key. A push with an
idempotency key first claims its record (`shared.data.idempotency`), which maps the key to that id for
`idempotency_ttl_seconds`, as payment APIs do:

* a reuse with the same content is a retry: it answers the recorded id and writes what the first try may
  not have written (it may have stopped between the record, the message and the outbox entry), so the
  event is published again; the dispatcher finds the inbox entry under the same id and delivers nothing
  twice. When the outbox entry exists too, the first try is still in flight and its id is the answer;
* a reuse with other content is refused (202, HTTP 422) and stores nothing;
* once the record has expired the key is free again and makes a new message.

Expired records are swept periodically (the store has no TTL indexes).

A push to a group link is accepted the same way, durable first: the message once (its `source` the
link's name, its `linkId` the link's public id, never the key), and an outbox entry carrying a
`GroupMessageAcceptedV1` for the fanout service, which writes the subscribers' inbox entries. Its
`topic` is created on first use. A closed link refuses pushes (204, HTTP 403), a deleted one is gone
(204, HTTP 410).
"""

from __future__ import annotations

import asyncio

from services.gateway.outbox import OutboxRelay
from services.gateway.push_limits import PushLimits
from shared.bus import Bus, BusUnavailableError, PublishError
from shared.bus.port import MESSAGE_HEADER, TRACE_HEADER
from shared.data import group_links, idempotency, messages, outbox
from shared.data.keys import PushKey
from shared.data.outbox import AcceptedEvent
from shared.envelope import ApiError, Ret, not_found
from shared.ids import is_hex24, new_id, now_ms
from shared.logs import get_logger
from shared.messages.group import GroupMessageAcceptedV1
from shared.messages.push import MessageAcceptedV2
from shared.models import PushRequest
from shared.periodic import Periodic
from shared.store import Document, DuplicateKeyError, Store
from shared.ttl_cache import TtlCache

log = get_logger("igot.gateway.ingress")

DEFAULT_IDEMPOTENCY_TTL_SECONDS = 24 * 3600
SWEEP_SECONDS = 60.0


class Ingress:
    def __init__(
        self,
        store: Store,
        bus: Bus,
        keys: TtlCache[str, PushKey | None],
        relay: OutboxRelay,
        *,
        idempotency_ttl_seconds: float = DEFAULT_IDEMPOTENCY_TTL_SECONDS,
        publish_timeout: float = 2.0,
        max_publishing: int = 1024,
        limits: PushLimits | None = None,
    ) -> None:
        self._store = store
        self._limits = limits  # None: no rate limits (tests that drive the ingress directly)
        self._bus = bus
        self._keys = keys
        self._relay = relay
        self._idempotency_ttl_ms = max(1, int(idempotency_ttl_seconds * 1000))
        self._publish_timeout = publish_timeout
        self._max_publishing = max_publishing
        self._publishing: set[asyncio.Task[None]] = set()
        self._sweeper = Periodic(
            "idempotency-sweep",
            self.sweep_expired,
            interval_seconds=SWEEP_SECONDS,
            report="expired idempotency records deleted",
        )

    def start(self) -> None:
        self._sweeper.start()

    async def stop(self) -> None:
        await self._sweeper.stop()
        await self.drain()

    async def accept(
        self, key_value: str, fields: PushRequest, *, trace_id: str, client: str | None = None
    ) -> str:
        """Store the push and publish its event; `client` is the sender's address (None: not over HTTP)."""
        if self._limits is None:
            key = await self._resolve(key_value)
        else:
            key = await self._limits.admit(key_value, client, self._resolve)
        now = now_ms()
        message_id = new_id()
        repeat = False
        if fields.idempotency_key is not None:
            message_id, repeat = await self._claim(key.value, fields.idempotency_key, fields, message_id, now)
        linked = key.kind in ("temporary", group_links.GROUP)
        if key.kind == group_links.GROUP and fields.topic and key.link_id:
            await group_links.ensure_topic(self._store, key.link_id, fields.topic, now=now)
        message = messages.new_message(
            message_id=message_id,
            sender_id=key.user_id,
            key_kind=key.kind if linked else "fixed",
            source=key.name if linked else None,
            link_id=key.link_id if linked else None,
            topic=fields.topic,
            body=fields.body,
            extra=fields.extra,
            created_at=now,
        )
        if fields.level is not None:
            message["level"] = fields.level
        if fields.idempotency_key is None:
            # A fresh id cannot collide: both writes at once, one wait for the store. Should one of them
            # fail, the sender hears 503 and the relay drops an entry whose message never arrived.
            event = _accepted_event(message, recipient=key.user_id)
            await asyncio.gather(messages.insert(self._store, message), outbox.insert(self._store, event))
        else:
            # A retry (or a replica racing the first try) may have written either already: one at a time.
            try:
                await messages.insert(self._store, message)
            except DuplicateKeyError:
                # The event describes the message as first stored.
                message = await messages.get_by_id(self._store, message_id) or message
            event = _accepted_event(message, recipient=key.user_id)
            try:
                await outbox.insert(self._store, event)
            except DuplicateKeyError:
                log.info("idempotent repeat, first send still in flight", message_id=message_id)
                return message_id
        log.info("push accepted", message_id=message_id, key_kind=message["keyKind"], repeat=repeat)
        await self._publish_soon(event, trace_id)
        return message_id

    async def _claim(
        self, key_value: str, idempotency_key: str, fields: PushRequest, message_id: str, now: int
    ) -> tuple[str, bool]:
        """The id the idempotency key stands for, and whether this push repeats an earlier one."""
        content = idempotency.fingerprint(
            body=fields.body.model_dump(), topic=fields.topic, extra=fields.extra
        )
        record = await idempotency.claim(
            self._store,
            idempotency.key_hash(key_value, idempotency_key),
            message_id=message_id,
            content=content,
            now=now,
            ttl_ms=self._idempotency_ttl_ms,
        )
        if record.fingerprint != content:
            raise ApiError(Ret.INVALID, "idempotency key reused with different content", http_status=422)
        return record.message_id, not record.claimed

    async def sweep_expired(self) -> int:
        return await idempotency.delete_expired(self._store, now_ms())

    async def _publish_soon(self, event: AcceptedEvent, trace_id: str) -> None:
        """Publish without making the sender wait for the bus: the message is safe in the outbox already.

        Past `max_publishing` publishes under way, the sender waits for its own (backpressure on a slow bus).
        """
        if len(self._publishing) >= self._max_publishing:
            await self._publish(event, trace_id)
            return
        task = asyncio.create_task(self._publish(event, trace_id))
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    async def drain(self) -> None:
        """Let the publishes under way finish (at stop); what does not is the relay's after a restart."""
        if self._publishing:
            await asyncio.wait(self._publishing, timeout=self._publish_timeout)

    async def _resolve(self, key_value: str) -> PushKey:
        if not is_hex24(key_value):
            raise not_found("unknown push key")
        key = await self._keys.get(key_value)
        if key is not None and key.owner_status != "active":
            # A disabled account's keys are refused as paused ones are; a deleted account's are gone.
            if key.owner_status == "disabled":
                raise ApiError(Ret.KEY_INACTIVE, "the key's account is disabled", http_status=403)
            raise _gone("the key's account was deleted")
        if key is None or key.status == "deleted":
            raise not_found("unknown push key") if key is None else _gone("push key was deleted")
        if key.status == "paused":
            raise ApiError(Ret.KEY_INACTIVE, "push key is paused", http_status=403)
        if key.status == group_links.CLOSED:
            raise ApiError(Ret.KEY_INACTIVE, "group link is closed", http_status=403)
        if key.expires_at is not None and key.expires_at <= now_ms():
            raise _gone("push key has expired")
        return key

    async def _publish(self, event: AcceptedEvent, trace_id: str) -> None:
        headers = {TRACE_HEADER: trace_id, MESSAGE_HEADER: event.message_id}
        try:
            await asyncio.wait_for(self._bus.publish(event, headers=headers), self._publish_timeout)
        except (PublishError, BusUnavailableError, TimeoutError) as error:
            log.warning("publish deferred to the outbox relay", message_id=event.message_id, error=str(error))
            return
        self._relay.confirmed(event.message_id)


def _accepted_event(message: Document, *, recipient: str) -> AcceptedEvent:
    if message["keyKind"] == group_links.GROUP:
        return GroupMessageAcceptedV1(**messages.group_push_fields(message))
    return MessageAcceptedV2(
        message_id=message["_id"],
        user_id=recipient,
        key_kind=message["keyKind"],
        topic=message.get("topic"),
        strong=True,
        urgent=message.get("level") == "critical",
        created_at=message["createdAt"],
    )


def _gone(reason: str) -> ApiError:
    return ApiError(Ret.KEY_INACTIVE, reason, http_status=410)
