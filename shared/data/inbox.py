"""Inbox entries (written by the dispatcher; read and marked by the gateway's client API).

`{_id, userId, messageId, app, source?, topic?, body, extra?, createdAt, read, mode, status, attempts}`.
For a message to one user the entry's `_id` is the message id, so a redelivered message (or a retried send
with the same idempotency key) finds its entry instead of writing a second one. The entry is the lasting
record of a message; the outbox only holds it while it is in flight.
"""

from __future__ import annotations

from typing import Any

from shared.messages.push import MessageAcceptedV1
from shared.store import Document, DuplicateKeyError, IndexSpec, Store

COLLECTION = "inbox"
INDEXES = (
    IndexSpec(COLLECTION, (("userId", 1), ("createdAt", -1))),
    IndexSpec(COLLECTION, (("userId", 1), ("read", 1))),
)


def entry_for(message: MessageAcceptedV1) -> Document:
    """A new, unread entry for a message to one user, before any delivery attempt."""
    entry: Document = {
        "_id": message.message_id,
        "messageId": message.message_id,
        "userId": message.user_id,
        "app": message.app,
        "body": message.body.model_dump(),
        "createdAt": message.created_at,
        "read": False,
        "mode": "inbox",
        "status": "pending",
        "attempts": [],
    }
    for field, value in (("source", message.source), ("topic", message.topic), ("extra", message.extra)):
        if value is not None:
            entry[field] = value
    return entry


async def insert_if_absent(store: Store, entry: Document) -> bool:
    """True when written now, False when it was already there."""
    try:
        await store.collection(COLLECTION).insert_one(entry)
    except DuplicateKeyError:
        return False
    return True


async def get_for_user(store: Store, user_id: str, entry_id: str) -> Document | None:
    return await store.collection(COLLECTION).find_one({"_id": entry_id, "userId": user_id})


async def list_for_user(store: Store, user_id: str, *, skip: int, limit: int) -> tuple[list[Document], int]:
    entries = store.collection(COLLECTION)
    docs = await entries.find(
        {"userId": user_id}, sort=[("createdAt", -1), ("_id", -1)], skip=skip, limit=limit
    )
    return docs, await entries.count({"userId": user_id})


async def mark_read(store: Store, user_id: str, entry_id: str) -> bool:
    return (
        await store.collection(COLLECTION).update_one(
            {"_id": entry_id, "userId": user_id}, {"$set": {"read": True}}
        )
        == 1
    )


async def record_delivery(
    store: Store, entry_id: str, *, mode: str, status: str, attempts: list[dict[str, Any]]
) -> None:
    await store.collection(COLLECTION).update_one(
        {"_id": entry_id}, {"$set": {"mode": mode, "status": status, "attempts": attempts}}
    )
