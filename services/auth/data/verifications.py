"""Verifications of push ways: the links that verify a bound way, and the log of verifications sent.

`verifications`: `{_id: sha256(token), userId, way, key, createdAt, expiresAt}` for each link sent. Only
the digest is stored, as for login codes, so a leaked database verifies nothing. A link is used once:
following it inserts `{_id: "<digest>-used", ...}`, and of two visits at the same moment (a double click,
two auth replicas) only one insert succeeds. Conditional updates would not settle that: the
MongoDB-compatible server used in tests applies them as read-then-write. A link's record and its marker
stay until a while after the link expired, so that a late visit hears "expired" or "already used".

`verification_sends`: `{_id, userId, way, at}`, one per verification sent, counted to limit how often a
way's verification goes out. Counted by inserting, never with `$inc`, which concurrent writers can lose.
"""

from __future__ import annotations

import hashlib

from shared.ids import new_id
from shared.store import Document, DuplicateKeyError, IndexSpec, Store

COLLECTION = "verifications"
SENDS = "verification_sends"
INDEXES = (
    IndexSpec(COLLECTION, (("userId", 1), ("way", 1))),
    IndexSpec(COLLECTION, (("expiresAt", 1),)),
    IndexSpec(SENDS, (("userId", 1), ("way", 1), ("at", 1))),
    IndexSpec(SENDS, (("at", 1),)),
)
USED_SUFFIX = "-used"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def insert(
    store: Store, *, token: str, user_id: str, way: str, key: str, created_at: int, expires_at: int
) -> None:
    await store.collection(COLLECTION).insert_one(
        {
            "_id": digest(token),
            "userId": user_id,
            "way": way,
            "key": key,
            "createdAt": created_at,
            "expiresAt": expires_at,
        }
    )


async def get_by_token(store: Store, token: str) -> Document | None:
    return await store.collection(COLLECTION).find_one({"_id": digest(token)})


async def delete_by_token(store: Store, token: str) -> None:
    await store.collection(COLLECTION).delete_one({"_id": digest(token)})


async def is_used(store: Store, token: str) -> bool:
    return await store.collection(COLLECTION).find_one({"_id": digest(token) + USED_SUFFIX}) is not None


async def mark_used(store: Store, token: str, record: Document) -> bool:
    """True for the one visit that used the link; False when another visit used it first."""
    marker = {key: value for key, value in record.items() if key != "_id"}
    try:
        await store.collection(COLLECTION).insert_one({**marker, "_id": digest(token) + USED_SUFFIX})
    except DuplicateKeyError:
        return False
    return True


async def delete_for_way(store: Store, user_id: str, way: str) -> int:
    """Every link of the way, used or not: none of them verifies anything any more."""
    return await store.collection(COLLECTION).delete_many({"userId": user_id, "way": way})


async def delete_expired_before(store: Store, cutoff_ms: int) -> int:
    return await store.collection(COLLECTION).delete_many({"expiresAt": {"$lt": cutoff_ms}})


async def record_send(store: Store, *, user_id: str, way: str, at_ms: int) -> str:
    return await store.collection(SENDS).insert_one(
        {"_id": new_id(), "userId": user_id, "way": way, "at": at_ms}
    )


async def delete_send(store: Store, send_id: str) -> None:
    await store.collection(SENDS).delete_one({"_id": send_id})


async def sends_since(store: Store, user_id: str, way: str, since_ms: int) -> list[Document]:
    """The way's sends since `since_ms`, oldest first."""
    return await store.collection(SENDS).find(
        {"userId": user_id, "way": way, "at": {"$gte": since_ms}}, sort=[("at", 1)], projection=["at"]
    )


async def delete_sends_before(store: Store, cutoff_ms: int) -> int:
    return await store.collection(SENDS).delete_many({"at": {"$lt": cutoff_ms}})
