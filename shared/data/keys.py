"""Push keys (owned by auth; the gateway reads them to route a push).

A key document: `{_id: <24 hex key>, userId, kind: fixed|temporary|group, status: active|paused|deleted,
ownerStatus?: disabled|deleted, name?, expiresAt?, createdAt}`. The key itself is the `_id`, so a lookup
is one primary-key read. `ownerStatus` is the account's state copied onto each of its keys (absent while
the account is active), so that resolving a key stays one read.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.store import IndexSpec, Store

COLLECTION = "keys"
INDEXES = (IndexSpec(COLLECTION, (("userId", 1), ("kind", 1))),)


@dataclass(frozen=True)
class PushKey:
    value: str
    user_id: str
    kind: str
    status: str
    name: str | None
    expires_at: int | None
    owner_status: str = "active"


async def insert(store: Store, *, value: str, user_id: str, kind: str, created_at: int) -> None:
    await store.collection(COLLECTION).insert_one(
        {"_id": value, "userId": user_id, "kind": kind, "status": "active", "createdAt": created_at}
    )


async def get_by_value(store: Store, value: str) -> PushKey | None:
    doc = await store.collection(COLLECTION).find_one({"_id": value})
    if doc is None:
        return None
    return PushKey(
        value=doc["_id"],
        user_id=doc["userId"],
        kind=doc["kind"],
        status=doc.get("status", "active"),
        name=doc.get("name"),
        expires_at=doc.get("expiresAt"),
        owner_status=doc.get("ownerStatus", "active"),
    )


async def set_owner_status(store: Store, user_id: str, status: str) -> int:
    """Copy the account's state onto all its keys (`active` clears it); the number of keys changed."""
    change = {"$unset": {"ownerStatus": ""}} if status == "active" else {"$set": {"ownerStatus": status}}
    return await store.collection(COLLECTION).update_many({"userId": user_id}, change)
