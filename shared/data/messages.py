"""Messages (written by the gateway when it accepts a push; read by the dispatcher and the client API).

A message is stored once, however many inboxes it reaches:
`{_id: <message id>, senderId, keyKind: fixed|temporary|group|app, source?, app, topic?, body, extra?,
createdAt}`. `senderId` is the user whose key sent it (never the key itself: keys are bearer secrets).
Each recipient has a small inbox entry pointing at it (`shared.data.inbox`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from shared.messages.push import MessageBody
from shared.store import Document, IndexSpec, Store

COLLECTION = "messages"
INDEXES: tuple[IndexSpec, ...] = ()


def new_message(
    *,
    message_id: str,
    sender_id: str,
    key_kind: str,
    body: MessageBody,
    created_at: int,
    app: str = "iGot",
    source: str | None = None,
    topic: str | None = None,
    extra: str | None = None,
) -> Document:
    """The stored document; optional fields are left out rather than stored as null."""
    message: Document = {
        "_id": message_id,
        "senderId": sender_id,
        "keyKind": key_kind,
        "app": app,
        "body": body.model_dump(),
        "createdAt": created_at,
    }
    for field, value in (("source", source), ("topic", topic), ("extra", extra)):
        if value is not None:
            message[field] = value
    return message


def parse_extra(text: str | None) -> Any:
    """The sender's other fields, from the JSON text they are stored as. Non-finite numbers, which
    releases before they were refused could store, come back as text ("NaN"), so every answer and
    every delivery stays strict JSON."""
    return json.loads(text, parse_constant=str) if text else None


async def insert(store: Store, message: Document) -> None:
    """Raises `DuplicateKeyError` when a message with this id exists (a retried idempotent send)."""
    await store.collection(COLLECTION).insert_one(message)


async def get_by_id(store: Store, message_id: str) -> Document | None:
    return await store.collection(COLLECTION).find_one({"_id": message_id})


async def get_many_by_id(store: Store, message_ids: Iterable[str]) -> dict[str, Document]:
    """The messages found, by id (one query for a page of inbox entries)."""
    wanted = sorted(set(message_ids))
    if not wanted:
        return {}
    docs = await store.collection(COLLECTION).find({"_id": {"$in": wanted}})
    return {doc["_id"]: doc for doc in docs}
