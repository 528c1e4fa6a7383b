"""The outbox: accepted messages not yet safely on the bus (owned by the gateway).

`{_id: <message id>, createdAt, event: <the accepted event as a document>}`. An entry is written before
the sender hears "accepted" and deleted once the bus confirmed the event: a confirmed publish is durable
on both buses (RabbitMQ's quorum queues, the in-process bus's SQLite file). The collection only ever
holds messages in flight, so it stays small: every write to it is cheap, on any store, however many
messages the inbox holds.

Claims (`outbox_claims`): several gateway replicas relay one outbox. Before republishing an entry a relay
inserts `{_id: "<message id>-<window>", messageId, createdAt}`, the window being the claim period the
relay is in; the unique `_id` lets exactly one replica win per window, on every store (an insert is
atomic where a read-then-write is not). Old claims are swept.
"""

from __future__ import annotations

from shared.batching import IdBatcher
from shared.messages.group import GroupMessageAcceptedV1
from shared.messages.push import MessageAcceptedV1, MessageAcceptedV2
from shared.store import DuplicateKeyError, IndexSpec, Store

COLLECTION = "outbox"
CLAIMS = "outbox_claims"
INDEXES = (IndexSpec(COLLECTION, (("createdAt", 1),)), IndexSpec(CLAIMS, (("createdAt", 1),)))

# A direct push's event, or a group link's (`GroupMessageAcceptedV1`, for fanout).
AcceptedEvent = MessageAcceptedV1 | MessageAcceptedV2 | GroupMessageAcceptedV1


async def insert(store: Store, event: AcceptedEvent) -> None:
    """Raises `DuplicateKeyError` when the message is in the outbox already (a retried idempotent send)."""
    await store.collection(COLLECTION).insert_one(
        {"_id": event.message_id, "createdAt": event.created_at, "event": event.model_dump(mode="json")}
    )


async def list_older_than(store: Store, cutoff_ms: int, *, limit: int) -> list[AcceptedEvent]:
    docs = await store.collection(COLLECTION).find(
        {"createdAt": {"$lt": cutoff_ms}}, sort=[("createdAt", 1), ("_id", 1)], limit=limit
    )
    return [_event(doc["event"]) for doc in docs]


async def count(store: Store) -> int:
    return await store.collection(COLLECTION).count({})


async def oldest_created_at(store: Store) -> int | None:
    doc = await store.collection(COLLECTION).find_one({}, sort=[("createdAt", 1)])
    return None if doc is None else int(doc["createdAt"])


async def delete_many(store: Store, message_ids: list[str]) -> int:
    if not message_ids:
        return 0
    return await store.collection(COLLECTION).delete_many({"_id": {"$in": message_ids}})


def batched_delete(store: Store, name: str) -> IdBatcher:
    """Deletes entries in batches, off the hot path. A batch lost in a crash costs one deduplicated
    re-publish of its messages, never a message."""

    async def delete(message_ids: list[str]) -> None:
        await delete_many(store, message_ids)

    return IdBatcher(name, delete)


async def claim(store: Store, message_id: str, *, window: int, claimed_at: int) -> bool:
    """True when this caller won the entry for `window`; False when another relay holds it."""
    try:
        await store.collection(CLAIMS).insert_one(
            {"_id": f"{message_id}-{window}", "messageId": message_id, "createdAt": claimed_at}
        )
    except DuplicateKeyError:
        return False
    return True


async def delete_claims_before(store: Store, cutoff_ms: int) -> int:
    return await store.collection(CLAIMS).delete_many({"createdAt": {"$lt": cutoff_ms}})


def _event(doc: dict[str, object]) -> AcceptedEvent:
    if doc.get("type") == GroupMessageAcceptedV1.TYPE:
        return GroupMessageAcceptedV1.model_validate(doc)
    # Entries written by the previous release carry version 1 and are relayed as they are: consumers
    # accept both versions during a rollout.
    if doc.get("version") == MessageAcceptedV1.VERSION:
        return MessageAcceptedV1.model_validate(doc)
    return MessageAcceptedV2.model_validate(doc)
