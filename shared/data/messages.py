"""Messages (written by the gateway when it accepts a push; read by the dispatcher and the client API).

A message is stored once, however many inboxes it reaches:
`{_id: <message id>, senderId, keyKind: fixed|temporary|group|app, source?, linkId?, app, topic?, body,
extra?, createdAt}`. `senderId` is the user whose key sent it (never the key itself: keys are bearer
secrets); `linkId` is the temporary link it came through (the key's non-secret id, `shared.data.keys`),
by which a link's messages are counted. Each recipient has a small inbox entry pointing at it
(`shared.data.inbox`).

Third-party content (today: pushes through group links) is checked by the moderation service, which
records the outcome on the message (the seed's `checked`): `checked` 0 or absent while pending (or held
for review), 1 rejected, 2 passed, and `moderation: {verdict: pass|reject|review, category?, hits?,
remote?, checkedAt, by: lexicon|remote|policy|operator}`. A message of the sender's own keys is never
checked and carries neither.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from shared.messages.push import MessageBody
from shared.store import Document, IndexSpec, Store

COLLECTION = "messages"
# A temporary link's messages: how many, and the latest.
INDEXES: tuple[IndexSpec, ...] = (IndexSpec(COLLECTION, (("linkId", 1), ("createdAt", -1))),)


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
    link_id: str | None = None,
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
    for field, value in (("source", source), ("linkId", link_id), ("topic", topic), ("extra", extra)):
        if value is not None:
            message[field] = value
    return message


def parse_extra(text: str | None) -> Any:
    """The sender's other fields, from the JSON text they are stored as. Non-finite numbers, which
    releases before they were refused could store, come back as text ("NaN"), so every answer and
    every delivery stays strict JSON."""
    return json.loads(text, parse_constant=str) if text else None


def group_push_fields(message: Document) -> dict[str, Any]:
    """What the bus messages about a stored push to a group link carry (`shared.messages.group.GroupPush`)."""
    return {
        "message_id": message["_id"],
        "sender_id": message["senderId"],
        "link_id": message["linkId"],
        "topic": message.get("topic"),
        "urgent": message.get("level") == "critical",
        "created_at": message["createdAt"],
    }


async def insert(store: Store, message: Document) -> None:
    """Raises `DuplicateKeyError` when a message with this id exists (a retried idempotent send)."""
    await store.collection(COLLECTION).insert_one(message)


CHECK_PENDING = 0
CHECK_REJECTED = 1
CHECK_PASSED = 2


def check_state(message: Document) -> int:
    """The message's `checked`: 0 pending (absent counts as pending), 1 rejected, 2 passed."""
    checked = message.get("checked", CHECK_PENDING)
    return checked if checked in (CHECK_REJECTED, CHECK_PASSED) else CHECK_PENDING


async def record_check(
    store: Store, message_id: str, *, checked: int, moderation: Document, by_operator: bool = False
) -> bool:
    """Record the moderation outcome in one update; False when the message is gone or, for a verdict of
    the service itself, an operator decided the message already: an operator's decision is never
    overwritten by a check redone later."""
    if checked not in (CHECK_PENDING, CHECK_REJECTED, CHECK_PASSED):
        raise ValueError(f"checked must be 0, 1 or 2, not {checked!r}")
    wanted: dict[str, Any] = {"_id": message_id}
    if not by_operator:
        wanted["moderation.by"] = {"$ne": "operator"}
    update = {"$set": {"checked": checked, "moderation": moderation}}
    return await store.collection(COLLECTION).update_one(wanted, update) == 1


async def get_by_id(store: Store, message_id: str) -> Document | None:
    return await store.collection(COLLECTION).find_one({"_id": message_id})


async def get_many_by_id(store: Store, message_ids: Iterable[str]) -> dict[str, Document]:
    """The messages found, by id (one query for a page of inbox entries)."""
    wanted = sorted(set(message_ids))
    if not wanted:
        return {}
    docs = await store.collection(COLLECTION).find({"_id": {"$in": wanted}})
    return {doc["_id"]: doc for doc in docs}


async def count_for_link(store: Store, link_id: str) -> int:
    """How many messages came through the temporary link with this id."""
    return await store.collection(COLLECTION).count({"linkId": link_id}) if link_id else 0


async def last_sent_for_link(store: Store, link_id: str) -> int | None:
    """When the latest message through the temporary link with this id was accepted; None if never."""
    if not link_id:
        return None
    latest = await store.collection(COLLECTION).find_one(
        {"linkId": link_id}, sort=[("createdAt", -1)], projection=["createdAt"]
    )
    return latest["createdAt"] if latest is not None else None


async def delete_by_id(store: Store, message_id: str) -> bool:
    """True when the message was there. Only for a message no inbox entry points at any more."""
    return await store.collection(COLLECTION).delete_one({"_id": message_id}) == 1
