"""Rate-limit slots: one small document per use a limit admitted, `{_id, expiresAt}`.

The `_id` is `<limit>:<subject digest>:<slot number>`, the number zero-padded so that string order is
number order and the slots of one subject are one `_id` range. A use is admitted by inserting the
document of a free slot: whoever inserts it first holds it, in every process and on every store (an
insert guarded by the unique `_id` is the one operation the MongoDB-compatible test server settles
across processes). `expiresAt` is when the slot's time has passed; the sweeper deletes slots some time
after that, since the store has no TTL indexes.
"""

from __future__ import annotations

from shared.store import DuplicateKeyError, IndexSpec, Store

COLLECTION = "rate_slots"
INDEXES = (IndexSpec(COLLECTION, (("expiresAt", 1),)),)
SLOT_DIGITS = 20  # milliseconds since 1970 times the largest allowed count still fit


def slot_id(prefix: str, slot: int) -> str:
    return f"{prefix}:{slot:0{SLOT_DIGITS}d}"


def slot_of(doc_id: str) -> int:
    return int(doc_id.rsplit(":", 1)[1])


async def claim(store: Store, prefix: str, slot: int, *, expires_at: int) -> bool:
    """Take the slot; False when another use (of any process) holds it already."""
    try:
        await store.collection(COLLECTION).insert_one({"_id": slot_id(prefix, slot), "expiresAt": expires_at})
    except DuplicateKeyError:
        return False
    return True


async def taken_from(store: Store, prefix: str, first: int, last: int, *, limit: int) -> list[int]:
    """The taken slots in `[first, last]`, ascending, at most `limit` of them."""
    found = await store.collection(COLLECTION).find(
        {"_id": {"$gte": slot_id(prefix, first), "$lte": slot_id(prefix, last)}},
        sort=[("_id", 1)],
        limit=limit,
        projection=[],
    )
    return [slot_of(doc["_id"]) for doc in found]


async def delete_expired_before(store: Store, cutoff_ms: int) -> int:
    return await store.collection(COLLECTION).delete_many({"expiresAt": {"$lt": cutoff_ms}})
