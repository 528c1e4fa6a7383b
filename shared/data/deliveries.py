"""Delivery records, one per (inbox entry, way): the single source of what happened on a push way.

`{_id: "<entry id>-<way>", entryId, messageId, userId, way, status, tries, requestId, attempts: [{way,
at, result, error?, latencyMs, escalation?}], createdAt, updatedAt}` (`escalation: true` on the attempts
of a read escalation: the message was delivered on an earlier way and stayed unread), status one of
`sending`
(a try started and has not finished: after a crash, the send may or may not have happened), `retrying`,
`delivered`, `failed`. `requestId` names the delivery request whose try is under way. Written by the
dispatcher's per-way consumers before and after each send (attempts are appended, never rewritten);
read by the client API to show a message's attempts. A record that says `delivered` is never sent again.

The first try is claimed by inserting the record itself, already `sending`; later tries are claimed in
`delivery_claims` (`{_id: "<record id>-<try>", requestId, createdAt}`): two copies of one request handled
at once (a redelivered event) both reach the same try number, and whichever inserts the claim first
sends; the other stands down. An insert with a unique `_id` settles this on every store,
where a conditional update does not on servers that apply updates as read-then-write.

A read escalation's steps are claimed there too (`{_id: "<record id>-escalation", way, remaining,
createdAt}`, the record being the one of the way that delivered): the first check of a step chooses the
way it escalates to; a duplicate check (its delivery was handled twice) takes that choice instead of
choosing the way after it.
"""

from __future__ import annotations

from typing import Any

from shared.store import Document, DuplicateKeyError, IndexSpec, Store

COLLECTION = "deliveries"
CLAIMS = "delivery_claims"
INDEXES = (IndexSpec(COLLECTION, (("entryId", 1),)), IndexSpec(CLAIMS, (("createdAt", 1),)))
# A claim only matters while its request can still be redelivered: long past the last retry delay.
CLAIM_KEEP_MS = 7 * 24 * 3600 * 1000
FINAL = ("delivered", "failed")
MAX_ERROR_CHARS = 500


def record_id(entry_id: str, way: str) -> str:
    return f"{entry_id}-{way}"


def new_attempt(way: str, *, at: int, result: str, latency_ms: int, error: str | None = None) -> Document:
    attempt: Document = {"way": way, "at": at, "result": result, "latencyMs": latency_ms}
    if error:
        attempt["error"] = error[:MAX_ERROR_CHARS]
    return attempt


async def begin(
    store: Store, *, entry_id: str, message_id: str, user_id: str, way: str, request_id: str, now: int
) -> Document | None:
    """Write the record of this entry on this way `sending` its first try, for `request_id`; None when
    written now, else the record there already (its status says what happened before)."""
    records = store.collection(COLLECTION)
    record: Document = {
        "_id": record_id(entry_id, way),
        "entryId": entry_id,
        "messageId": message_id,
        "userId": user_id,
        "way": way,
        "status": "sending",
        "tries": 1,
        "requestId": request_id,
        "attempts": [],
        "createdAt": now,
        "updatedAt": now,
    }
    try:
        await records.insert_one(record)
    except DuplicateKeyError:
        existing = await records.find_one({"_id": record["_id"]})
        if existing is not None:
            return existing
        raise
    return None


async def get_by_id(store: Store, delivery_id: str) -> Document | None:
    return await store.collection(COLLECTION).find_one({"_id": delivery_id})


async def claim_try(store: Store, delivery_id: str, try_number: int, *, request_id: str, now: int) -> bool:
    """True when this request holds try `try_number` (it claimed it now, or before a crash)."""
    claims = store.collection(CLAIMS)
    claim_id = f"{delivery_id}-{try_number}"
    try:
        await claims.insert_one({"_id": claim_id, "requestId": request_id, "createdAt": now})
    except DuplicateKeyError:
        holder = await claims.find_one({"_id": claim_id})
        return holder is not None and holder.get("requestId") == request_id
    return True


async def claim_escalation(
    store: Store, *, entry_id: str, delivered_on: str, way: str, remaining: list[str], now: int
) -> tuple[Document, bool]:
    """The escalation step after `delivered_on` claimed for `way` (True), or the claim made before it,
    whose `way` and `remaining` are the step's (False)."""
    claims = store.collection(CLAIMS)
    claim: Document = {
        "_id": f"{record_id(entry_id, delivered_on)}-escalation",
        "way": way,
        "remaining": remaining,
        "createdAt": now,
    }
    try:
        await claims.insert_one(claim)
    except DuplicateKeyError:
        holder = await claims.find_one({"_id": claim["_id"]})
        if holder is not None:
            return holder, False
        raise
    return claim, True


async def start_try(store: Store, delivery_id: str, *, request_id: str, now: int) -> None:
    """Written before the send, so a crash during it leaves `sending` and the try counted."""
    await store.collection(COLLECTION).update_one(
        {"_id": delivery_id},
        {"$inc": {"tries": 1}, "$set": {"status": "sending", "requestId": request_id, "updatedAt": now}},
    )


async def add_attempt(store: Store, delivery_id: str, attempt: Document, *, status: str | None) -> None:
    """Append one attempt; `status` None keeps the record's status (its fall-back is still to come)."""
    update: dict[str, dict[str, Any]] = {"$push": {"attempts": attempt}, "$set": {"updatedAt": attempt["at"]}}
    if status is not None:
        update["$set"]["status"] = status
    await store.collection(COLLECTION).update_one({"_id": delivery_id}, update)


async def mark_failed(store: Store, delivery_id: str, *, now: int) -> None:
    await store.collection(COLLECTION).update_one(
        {"_id": delivery_id, "status": {"$nin": list(FINAL)}},
        {"$set": {"status": "failed", "updatedAt": now}},
    )


async def list_for_entry(store: Store, entry_id: str) -> list[Document]:
    return await store.collection(COLLECTION).find({"entryId": entry_id}, sort=[("createdAt", 1)])


async def delete_claims_before(store: Store, cutoff_ms: int) -> int:
    return await store.collection(CLAIMS).delete_many({"createdAt": {"$lt": cutoff_ms}})
