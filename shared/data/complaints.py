"""Receivers' complaints about messages from third parties (today: pushes to group links).

A complaint is one document per (message, complainer), insert-only:
`{_id: complaint_id(message, user), messageId, userId, senderRef, keyKind, linkId?, senderId, reason?,
createdAt}`. Its `_id` makes a repeat (a double tap, a retried request, two devices at once) a duplicate
insert that changes nothing, on every store alike.

`senderRef` names the key that sent the message without the key itself (a bearer secret): for a group
link `group:<linkId>`, its public id. Auto-pause counts *different* receivers complaining about one
sender within a window; a receiver complaining about ten of its messages is still one receiver. The
stores offer no distinct count, so each complainer of a sender also has one small document in
`complainers` (`{_id: sha256(senderRef, user)[:24], senderRef, userId, lastAt}`) whose `lastAt` moves to
their latest complaint: the number of complainers within the window is then one counted query,
`{senderRef, lastAt >= since}`, served by an index.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from shared.store import Document, DuplicateKeyError, IndexSpec, Store

COLLECTION = "complaints"
COMPLAINERS = "complainers"

INDEXES: tuple[IndexSpec, ...] = (
    # A message's complaints, counted for its review and listed for the operator.
    IndexSpec(COLLECTION, (("messageId", 1), ("createdAt", 1))),
    # A sender's complainers within the window.
    IndexSpec(COMPLAINERS, (("senderRef", 1), ("lastAt", -1))),
)


@dataclass(frozen=True)
class Complaint:
    message_id: str
    user_id: str  # the receiver who complained
    sender_ref: str  # the key that sent the message, by its non-secret name (`group_sender_ref`)
    key_kind: str
    sender_id: str  # the user owning that key
    link_id: str | None
    reason: str | None
    created_at: int


def complaint_id(message_id: str, user_id: str) -> str:
    """One complaint per receiver and message."""
    return hashlib.sha256(f"{message_id}\0{user_id}".encode()).hexdigest()[:24]


def group_sender_ref(link_id: str) -> str:
    """How complaints name a group link: by its public id, never by its push key."""
    return f"group:{link_id}"


def _complainer_id(sender_ref: str, user_id: str) -> str:
    return hashlib.sha256(f"{sender_ref}\0{user_id}".encode()).hexdigest()[:24]


def _document(complaint: Complaint) -> Document:
    doc: Document = {
        "_id": complaint_id(complaint.message_id, complaint.user_id),
        "messageId": complaint.message_id,
        "userId": complaint.user_id,
        "senderRef": complaint.sender_ref,
        "keyKind": complaint.key_kind,
        "senderId": complaint.sender_id,
        "createdAt": complaint.created_at,
    }
    # Optional fields are left out rather than stored as null.
    for field, value in (("linkId", complaint.link_id), ("reason", complaint.reason)):
        if value is not None:
            doc[field] = value
    return doc


async def insert_if_absent(store: Store, complaint: Complaint) -> bool:
    """Store the complaint; False (and nothing written) when this receiver complained about it already."""
    try:
        await store.collection(COLLECTION).insert_one(_document(complaint))
    except DuplicateKeyError:
        return False
    return True


async def get(store: Store, message_id: str, user_id: str) -> Complaint | None:
    doc = await store.collection(COLLECTION).find_one({"_id": complaint_id(message_id, user_id)})
    return _complaint(doc) if doc is not None else None


async def list_for_message(store: Store, message_id: str, *, limit: int) -> list[Complaint]:
    """The message's first `limit` complaints, oldest first (what an operator reads beside its review)."""
    docs = await store.collection(COLLECTION).find(
        {"messageId": message_id}, sort=[("createdAt", 1), ("_id", 1)], limit=limit
    )
    return [_complaint(doc) for doc in docs]


def _complaint(doc: Document) -> Complaint:
    return Complaint(
        message_id=doc["messageId"],
        user_id=doc["userId"],
        sender_ref=doc["senderRef"],
        key_kind=doc["keyKind"],
        sender_id=doc["senderId"],
        link_id=doc.get("linkId"),
        reason=doc.get("reason"),
        created_at=doc["createdAt"],
    )


async def count_for_message(store: Store, message_id: str) -> int:
    """How many receivers complained about the message."""
    return await store.collection(COLLECTION).count({"messageId": message_id})


async def note_complainer(store: Store, sender_ref: str, user_id: str, *, now: int) -> None:
    """Record that `user_id` complained about the sender at `now` (one document per pair, its time moved
    forward). Two complaints of one receiver at once may both try to create the document: the loser of
    that insert updates the winner's."""
    wanted = {"_id": _complainer_id(sender_ref, user_id)}
    change = {"$set": {"senderRef": sender_ref, "userId": user_id, "lastAt": now}}
    complainers = store.collection(COMPLAINERS)
    try:
        await complainers.update_one(wanted, change, upsert=True)
    except DuplicateKeyError:
        await complainers.update_one(wanted, change)


async def count_complainers_since(store: Store, sender_ref: str, since: int) -> int:
    """How many different receivers complained about the sender at or after `since` (epoch ms)."""
    return await store.collection(COMPLAINERS).count({"senderRef": sender_ref, "lastAt": {"$gte": since}})
