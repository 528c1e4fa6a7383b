"""The outbox: accepted messages not yet safely on the bus (owned by the gateway).

`{_id: <message id>, createdAt, event: <the MessageAcceptedV1 as a document>}`. An entry is written before
the sender hears "accepted" and removed once the message cannot be lost any more: when the broker
confirmed it (RabbitMQ keeps it durably), or, on the in-process bus, once the dispatcher wrote the inbox
entry. The collection only ever holds messages in flight, so it stays small: every write to it is cheap,
on any store, however many messages the inbox holds.
"""

from __future__ import annotations

from shared.batching import IdBatcher
from shared.messages.push import MessageAcceptedV1
from shared.store import Filter, IndexSpec, Store

COLLECTION = "outbox"
INDEXES = (IndexSpec(COLLECTION, (("createdAt", 1),)),)


async def insert(store: Store, message: MessageAcceptedV1) -> None:
    """Raises `DuplicateKeyError` when the message is in the outbox already (a retried idempotent send)."""
    await store.collection(COLLECTION).insert_one(
        {"_id": message.message_id, "createdAt": message.created_at, "event": message.model_dump(mode="json")}
    )


async def list_older_than(store: Store, cutoff_ms: int, *, limit: int) -> list[MessageAcceptedV1]:
    docs = await store.collection(COLLECTION).find(
        {"createdAt": {"$lt": cutoff_ms}}, sort=[("createdAt", 1), ("_id", 1)], limit=limit
    )
    return [MessageAcceptedV1.model_validate(doc["event"]) for doc in docs]


async def list_after(store: Store, after: MessageAcceptedV1 | None, *, limit: int) -> list[MessageAcceptedV1]:
    """Every entry in order, a page at a time: the page after `after` (from the start when None)."""
    where: Filter = {}
    if after is not None:
        where = {
            "$or": [
                {"createdAt": {"$gt": after.created_at}},
                {"createdAt": after.created_at, "_id": {"$gt": after.message_id}},
            ]
        }
    docs = await store.collection(COLLECTION).find(where, sort=[("createdAt", 1), ("_id", 1)], limit=limit)
    return [MessageAcceptedV1.model_validate(doc["event"]) for doc in docs]


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
