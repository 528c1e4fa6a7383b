"""Idempotency records: which message a push's idempotency key stands for, for a bounded time (gateway).

`{_id: "<key hash>-<window>", messageId, fingerprint, createdAt, expiresAt}`. The key hash covers the
push key and the idempotency key, so the same key sent to two push keys never collides, and the push key
(a bearer secret) is not stored in the clear. `fingerprint` is a hash of the push's content (body, topic,
extra): a reuse with the same content is a retry and answers the first message's id, a reuse with other
content is a mistake the sender must hear about.

Races between gateway replicas settle on inserts alone: on the MongoDB-compatible test server even a
conditional delete is a read-then-write, so "delete the expired record, insert a new one" would let two
replicas both believe they replaced it. Instead a record's `_id` names the TTL window it was created in
(`createdAt // ttl`). A record lives exactly one TTL, so only the records of the previous and the current
window can be alive: a claim reads those two, answers the live one, and otherwise inserts the current
window's record; replicas claiming at once insert the same `_id` and all but one lose on the insert. The
one case an insert cannot settle is two first uses of one key at the same instant by replicas whose clocks
fall on either side of a window's edge: both are stored, and from then on every replica answers the older.
An expired record is never replaced in place, only left behind, and a sweeper deletes it (the store has
no TTL indexes); deleting it cannot race a claim, which ignores expired records.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from shared.store import DuplicateKeyError, IndexSpec, Store, StoreUnavailableError

COLLECTION = "idempotency"
INDEXES = (IndexSpec(COLLECTION, (("expiresAt", 1),)),)
# A lost insert is followed by a read that finds the winner's record: a second attempt always suffices,
# unless the window's record vanished in between (a sweep that a skewed clock made premature).
CLAIM_ATTEMPTS = 3


@dataclass(frozen=True)
class IdempotencyRecord:
    message_id: str
    fingerprint: str
    claimed: bool  # True when this caller inserted it (a first send), False when it was there already


def key_hash(push_key: str, idempotency_key: str) -> str:
    return hashlib.sha256(f"{push_key}\0{idempotency_key}".encode()).hexdigest()[:32]


def fingerprint(*, body: dict[str, Any], topic: str | None, extra: str | None) -> str:
    """The same content gives the same fingerprint whatever the order its fields were sent in."""
    canonical = {"body": body, "topic": topic, "extra": None if extra is None else json.loads(extra)}
    text = json.dumps(canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


async def claim(
    store: Store, hashed_key: str, *, message_id: str, content: str, now: int, ttl_ms: int
) -> IdempotencyRecord:
    """The record in force for `hashed_key`: the live one, or the caller's own when there is none."""
    collection = store.collection(COLLECTION)
    window = now // ttl_ms
    # Oldest first: should both be alive, the previous window's record stands, as every replica decides.
    candidates = [f"{hashed_key}-{window - 1}", f"{hashed_key}-{window}"]
    for _ in range(CLAIM_ATTEMPTS):
        found = {doc["_id"]: doc for doc in await collection.find({"_id": {"$in": candidates}})}
        for record in (found[name] for name in candidates if name in found):
            if record["expiresAt"] > now:
                return IdempotencyRecord(
                    message_id=record["messageId"], fingerprint=record["fingerprint"], claimed=False
                )
        try:
            await collection.insert_one(
                {
                    "_id": candidates[-1],
                    "messageId": message_id,
                    "fingerprint": content,
                    "createdAt": now,
                    "expiresAt": now + ttl_ms,
                }
            )
        except DuplicateKeyError:
            continue  # another replica claimed it first: read its record
        return IdempotencyRecord(message_id=message_id, fingerprint=content, claimed=True)
    raise StoreUnavailableError("idempotency record keeps changing, retry later")


async def delete_expired(store: Store, now: int) -> int:
    return await store.collection(COLLECTION).delete_many({"expiresAt": {"$lte": now}})
