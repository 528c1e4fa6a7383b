"""Inbox entries: one small document per (recipient, message), holding read state and a delivery summary.

`{_id: <entry id>, userId, messageId, createdAt, storedAt, read, mode, status}`. The message itself (body,
source, topic, extra) is stored once in `shared.data.messages`; the client API joins them a page at a time.
`mode` is the way that delivered (`inbox` until a push way did), `status` one of `pending` (push ways still
to try), `delivered`, `failed` (every way failed; the message is in the inbox all the same). Attempts are
in the delivery records (`shared.data.deliveries`).

Entry ids are deterministic, so a redelivered event finds its entry instead of writing a second one: for a
message to its sender's own inbox (a push with one's own key) the entry id is the message id, so the id a
push returns opens the message; every other recipient's entry id is `derived_entry_id(message, user)`.
"""

from __future__ import annotations

import hashlib

from shared.store import Document, DuplicateKeyError, IndexSpec, Store

COLLECTION = "inbox"
INDEXES = (
    IndexSpec(COLLECTION, (("userId", 1), ("createdAt", -1))),
    IndexSpec(COLLECTION, (("userId", 1), ("read", 1))),
    # A group link's message: how many entries it has, and in which state (the creator's counters).
    IndexSpec(COLLECTION, (("messageId", 1), ("status", 1))),
)


def derived_entry_id(message_id: str, user_id: str) -> str:
    return hashlib.sha256(f"{message_id}\0{user_id}".encode()).hexdigest()[:24]


def new_entry(
    *, entry_id: str, user_id: str, message_id: str, created_at: int, stored_at: int, status: str
) -> Document:
    """An unread entry; `created_at` is the message's, so the inbox lists in the order pushes arrived."""
    return {
        "_id": entry_id,
        "userId": user_id,
        "messageId": message_id,
        "createdAt": created_at,
        "storedAt": stored_at,
        "read": False,
        "mode": "inbox",
        "status": status,
    }


async def insert_if_absent(store: Store, entry: Document) -> bool:
    """True when written now, False when it was already there."""
    try:
        await store.collection(COLLECTION).insert_one(entry)
    except DuplicateKeyError:
        return False
    return True


async def insert_many(store: Store, entries: list[Document]) -> list[str]:
    """Write the entries not stored yet (a redone page of a fanout writes only what is missing); returns
    the ids written."""
    if not entries:
        return []
    return await store.collection(COLLECTION).insert_many(entries)


async def count_for_message(store: Store, message_id: str, *, status: str | None = None) -> int:
    """How many recipients' entries point at the message (with `status`: in that state)."""
    wanted: dict[str, object] = {"messageId": message_id}
    if status is not None:
        wanted["status"] = status
    return await store.collection(COLLECTION).count(wanted)


async def get_by_id(store: Store, entry_id: str) -> Document | None:
    return await store.collection(COLLECTION).find_one({"_id": entry_id})


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


async def delete_for_user(store: Store, user_id: str, entry_id: str) -> Document | None:
    """Removes the user's entry and returns it; None when the user has no such entry. Its delivery
    records are left to whoever sweeps them; a way still trying finds the message or not (`messages`)."""
    return await store.collection(COLLECTION).find_one_and_delete({"_id": entry_id, "userId": user_id})


def is_senders_own(entry: Document) -> bool:
    """A push with the recipient's own key: its message reaches this one inbox only."""
    return bool(entry["_id"] == entry["messageId"])


async def set_summary(
    store: Store, entry_id: str, *, mode: str, status: str, only_from: tuple[str, ...] | None = None
) -> None:
    """The delivery summary the inbox shows; the records keep the attempts. `only_from` leaves an entry
    alone unless its status is one of these: a repeat then writes nothing, so it cannot race a mark-read
    of the same entry (the test server applies updates as read-then-write)."""
    filter_: dict[str, object] = {"_id": entry_id}
    if only_from is not None:
        filter_["status"] = {"$in": list(only_from)}
    await store.collection(COLLECTION).update_one(filter_, {"$set": {"mode": mode, "status": status}})
