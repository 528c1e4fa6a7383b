"""Confirmation codes of account deletions, and the tries made on them.

`deletion_codes`: `{_id, userId, digest, createdAt, expiresAt}`, one per code mailed. A code is 6 digits;
only a SHA-256 of the record's random `_id` and the code is stored, so a leaked database holds no code
that deletes an account. Only the newest code of a user counts: asking again supersedes the one before.
The records double as the log of codes sent, counted to throttle the mails, and are swept a day later.

`deletion_code_tries`: `{_id: "<code id>-<n>", userId, codeId, at}`, n from 0 to the number of tries
allowed. Each guess first takes the lowest free slot by inserting it; a guess that finds every slot
taken is refused unchecked. An insert with a unique `_id` is atomic on every store, where a counter is
not (MongoDB-compatible servers that apply `$inc` as read-then-write lose increments), so no more guesses
are ever checked than allowed, however many auth processes take them at once.
"""

from __future__ import annotations

import hashlib
import hmac

from shared.ids import new_id
from shared.store import Document, DuplicateKeyError, IndexSpec, Store

COLLECTION = "deletion_codes"
TRIES = "deletion_code_tries"
INDEXES = (
    IndexSpec(COLLECTION, (("userId", 1), ("createdAt", 1))),
    IndexSpec(COLLECTION, (("createdAt", 1),)),
    IndexSpec(TRIES, (("userId", 1),)),
    IndexSpec(TRIES, (("at", 1),)),
)


def _digest(code_id: str, code: str) -> str:
    return hashlib.sha256(f"{code_id}:{code}".encode()).hexdigest()


async def insert(store: Store, *, user_id: str, code: str, created_at: int, expires_at: int) -> str:
    """Store a code just sent (or about to be); returns the record's id."""
    code_id = new_id()
    await store.collection(COLLECTION).insert_one(
        {
            "_id": code_id,
            "userId": user_id,
            "digest": _digest(code_id, code),
            "createdAt": created_at,
            "expiresAt": expires_at,
        }
    )
    return code_id


async def delete(store: Store, code_id: str) -> None:
    await store.collection(COLLECTION).delete_one({"_id": code_id})


async def sent_since(store: Store, user_id: str, since_ms: int) -> list[Document]:
    """The user's codes created since `since_ms`, oldest first (`_id` and `createdAt` only)."""
    return await store.collection(COLLECTION).find(
        {"userId": user_id, "createdAt": {"$gte": since_ms}},
        sort=[("createdAt", 1)],
        projection=["createdAt"],
    )


async def newest_for_user(store: Store, user_id: str) -> Document | None:
    return await store.collection(COLLECTION).find_one({"userId": user_id}, sort=[("createdAt", -1)])


def matches(record: Document, code: str) -> bool:
    return hmac.compare_digest(str(record.get("digest", "")), _digest(record["_id"], code))


async def take_try(store: Store, record: Document, *, max_tries: int, at_ms: int) -> bool:
    """True when a guess on this code may be checked (it took a slot); False when every slot is taken."""
    tries = store.collection(TRIES)
    for slot in range(max_tries):
        try:
            await tries.insert_one(
                {
                    "_id": f"{record['_id']}-{slot}",
                    "userId": record["userId"],
                    "codeId": record["_id"],
                    "at": at_ms,
                }
            )
        except DuplicateKeyError:
            continue
        return True
    return False


async def consume(store: Store, code_id: str) -> bool:
    """Remove the code: True for the one request that used it (a code confirms once)."""
    return await store.collection(COLLECTION).find_one_and_delete({"_id": code_id}) is not None


async def delete_for_user(store: Store, user_id: str) -> int:
    removed = await store.collection(COLLECTION).delete_many({"userId": user_id})
    return removed + await store.collection(TRIES).delete_many({"userId": user_id})


async def delete_created_before(store: Store, cutoff_ms: int) -> int:
    removed = await store.collection(COLLECTION).delete_many({"createdAt": {"$lt": cutoff_ms}})
    return removed + await store.collection(TRIES).delete_many({"at": {"$lt": cutoff_ms}})
