"""Failed sign-ins: one small document per failure, `{_id, client, at}`.

Failures are counted by inserting, never by incrementing a counter: an insert with a fresh `_id` cannot
be lost when several auth processes fail sign-ins at the same moment, whereas a read-modify-write
counter can (MongoDB-compatible servers that apply `$inc` as read-then-write do lose them). Counting is
a `count` over the (client, at) index; documents older than the window are swept away oldest first.
"""

from __future__ import annotations

from shared.ids import new_id
from shared.store import IndexSpec, Store

COLLECTION = "login_failures"
INDEXES = (IndexSpec(COLLECTION, (("client", 1), ("at", 1))), IndexSpec(COLLECTION, (("at", 1),)))


async def insert(store: Store, *, client: str, at_ms: int) -> None:
    await store.collection(COLLECTION).insert_one({"_id": new_id(), "client": client, "at": at_ms})


async def count_for_client_since(store: Store, client: str, since_ms: int) -> int:
    return await store.collection(COLLECTION).count({"client": client, "at": {"$gte": since_ms}})


async def count_since(store: Store, since_ms: int) -> int:
    return await store.collection(COLLECTION).count({"at": {"$gte": since_ms}})


async def nth_oldest_since(store: Store, since_ms: int, n: int, *, client: str | None = None) -> int | None:
    """The time of the `n`-th oldest failure since `since_ms` (0 is the oldest), of one client or all."""
    filter_: dict[str, object] = {"at": {"$gte": since_ms}}
    if client is not None:
        filter_["client"] = client
    found = await store.collection(COLLECTION).find(
        filter_, sort=[("at", 1)], skip=n, limit=1, projection=["at"]
    )
    return int(found[0]["at"]) if found else None


async def delete_before(store: Store, cutoff_ms: int) -> int:
    return await store.collection(COLLECTION).delete_many({"at": {"$lt": cutoff_ms}})
