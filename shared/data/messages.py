"""Accepted messages and their outbox state (owned by the gateway; the dispatcher marks them routed).

A message document is the sender's record and the outbox entry at once — one document, so accepting and
queueing for publication is a single atomic write on a store without transactions:

`{_id, userId, keyKind, app, source?, topic?, body, extra?, createdAt, state, publishedAt?, routedAt?}`

`state` moves `accepted` → `published` (the bus confirmed it) → `routed` (the dispatcher wrote the inbox).
The outbox relay publishes what stays `accepted` longer than a grace period.
"""

from __future__ import annotations

from typing import Any

from shared.messages.push import MessageAcceptedV1, MessageBody
from shared.store import Document, IndexSpec, Store

COLLECTION = "messages"
INDEXES = (IndexSpec(COLLECTION, (("state", 1), ("createdAt", 1))),)

ACCEPTED = "accepted"
PUBLISHED = "published"
ROUTED = "routed"


def recipient_fields(message: MessageAcceptedV1) -> Document:
    """What the message and each inbox entry made from it both keep."""
    doc: Document = {
        "userId": message.user_id,
        "app": message.app,
        "body": message.body.model_dump(),
        "createdAt": message.created_at,
    }
    for field, value in (("source", message.source), ("topic", message.topic), ("extra", message.extra)):
        if value is not None:
            doc[field] = value
    return doc


def to_document(message: MessageAcceptedV1) -> Document:
    return {
        "_id": message.message_id,
        **recipient_fields(message),
        "keyKind": message.key_kind,
        "state": ACCEPTED,
    }


def to_event(doc: Document) -> MessageAcceptedV1:
    return MessageAcceptedV1(
        message_id=doc["_id"],
        user_id=doc["userId"],
        key_kind=doc["keyKind"],
        app=doc.get("app", "iGot"),
        source=doc.get("source"),
        topic=doc.get("topic"),
        body=MessageBody(**doc["body"]),
        extra=doc.get("extra"),
        created_at=doc["createdAt"],
    )


async def insert(store: Store, message: MessageAcceptedV1) -> None:
    """Raises `DuplicateKeyError` when the id exists (a retried send with the same idempotency key)."""
    await store.collection(COLLECTION).insert_one(to_document(message))


async def get_by_id(store: Store, message_id: str) -> Document | None:
    return await store.collection(COLLECTION).find_one({"_id": message_id})


async def mark_published_many(store: Store, message_ids: list[str], at: int) -> None:
    # Only from `accepted`: a fast dispatcher may already have marked them routed.
    if message_ids:
        await store.collection(COLLECTION).update_many(
            {"_id": {"$in": message_ids}, "state": ACCEPTED},
            {"$set": {"state": PUBLISHED, "publishedAt": at}},
        )


async def mark_routed_many(store: Store, message_ids: list[str], at: int) -> None:
    if message_ids:
        await store.collection(COLLECTION).update_many(
            {"_id": {"$in": message_ids}}, {"$set": {"state": ROUTED, "routedAt": at}}
        )


async def list_unpublished(store: Store, *, accepted_before: int, limit: int) -> list[Document]:
    return await store.collection(COLLECTION).find(
        {"state": ACCEPTED, "createdAt": {"$lt": accepted_before}}, sort=[("createdAt", 1)], limit=limit
    )


async def reset_unrouted(store: Store) -> int:
    """After a restart on a bus that keeps nothing across restarts, published-but-unrouted is lost."""
    return await store.collection(COLLECTION).update_many({"state": PUBLISHED}, {"$set": {"state": ACCEPTED}})


def body_of(doc: Document) -> dict[str, Any]:
    body: dict[str, Any] = doc["body"]
    return body
