"""Push keys (owned by auth; the gateway reads them to route a push).

A key document: `{_id: <24 hex key>, userId, kind: fixed|temporary|group, status: active|paused|deleted,
ownerStatus?: disabled|deleted, name?, linkId?, expiresAt?, createdAt}`. The key itself is the `_id`, so a
lookup is one primary-key read. `ownerStatus` is the account's state copied onto each of its keys (absent
while the account is active), so that resolving a key stays one read.

A temporary key (a "temporary link") has a `name` (its messages' `source`), an `expiresAt` and a `linkId`:
a non-secret id that its messages carry, so that they can be counted per link without ever storing the
key, which is a bearer secret. A deleted temporary key keeps its document with `status: deleted`, so that
pushes through it are answered "gone" rather than "unknown"; past `expiresAt` it is expired, whatever its
status says.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.store import Document, IndexSpec, Store

COLLECTION = "keys"
INDEXES = (IndexSpec(COLLECTION, (("userId", 1), ("kind", 1))),)

TEMPORARY = "temporary"
ACTIVE, PAUSED, DELETED = "active", "paused", "deleted"


@dataclass(frozen=True)
class PushKey:
    value: str
    user_id: str
    kind: str
    status: str
    name: str | None
    expires_at: int | None
    owner_status: str = "active"
    link_id: str | None = None  # temporary keys only


@dataclass(frozen=True)
class TemporaryLink:
    """A temporary key as its owner manages it."""

    value: str
    link_id: str
    name: str
    status: str  # active | paused | deleted, as stored
    expires_at: int
    created_at: int

    def state(self, now: int) -> str:
        """What the owner sees: `active`, `paused`, `expired` (whatever is stored) or `deleted`."""
        if self.status != DELETED and self.expires_at <= now:
            return "expired"
        return self.status


async def insert(store: Store, *, value: str, user_id: str, kind: str, created_at: int) -> None:
    await store.collection(COLLECTION).insert_one(
        {"_id": value, "userId": user_id, "kind": kind, "status": ACTIVE, "createdAt": created_at}
    )


async def get_by_value(store: Store, value: str) -> PushKey | None:
    doc = await store.collection(COLLECTION).find_one({"_id": value})
    if doc is None:
        return None
    return PushKey(
        value=doc["_id"],
        user_id=doc["userId"],
        kind=doc["kind"],
        status=doc.get("status", ACTIVE),
        name=doc.get("name"),
        expires_at=doc.get("expiresAt"),
        owner_status=doc.get("ownerStatus", "active"),
        link_id=doc.get("linkId"),
    )


async def set_owner_status(store: Store, user_id: str, status: str) -> int:
    """Copy the account's state onto all its keys (`active` clears it); the number of keys changed."""
    change = {"$unset": {"ownerStatus": ""}} if status == "active" else {"$set": {"ownerStatus": status}}
    return await store.collection(COLLECTION).update_many({"userId": user_id}, change)


async def insert_temporary(
    store: Store, *, value: str, user_id: str, name: str, link_id: str, created_at: int, expires_at: int
) -> None:
    await store.collection(COLLECTION).insert_one(
        {
            "_id": value,
            "userId": user_id,
            "kind": TEMPORARY,
            "status": ACTIVE,
            "name": name,
            "linkId": link_id,
            "expiresAt": expires_at,
            "createdAt": created_at,
        }
    )


def _owned_temporary(user_id: str, value: str) -> dict[str, object]:
    return {"_id": value, "userId": user_id, "kind": TEMPORARY}


async def get_temporary_of_user(store: Store, user_id: str, value: str) -> TemporaryLink | None:
    """The user's temporary link with this key, unless deleted; None for anyone else's key."""
    doc = await store.collection(COLLECTION).find_one(
        {**_owned_temporary(user_id, value), "status": {"$ne": DELETED}}
    )
    return _link(doc) if doc is not None else None


async def count_live_temporary(store: Store, user_id: str, *, now: int) -> int:
    """The user's temporary links that can still carry pushes once resumed: neither deleted nor expired."""
    return await store.collection(COLLECTION).count(
        {"userId": user_id, "kind": TEMPORARY, "status": {"$ne": DELETED}, "expiresAt": {"$gt": now}}
    )


async def list_temporary_of_user(
    store: Store, user_id: str, *, skip: int, limit: int
) -> tuple[list[TemporaryLink], int]:
    """One page of the user's temporary links but the deleted ones, newest first, and their count."""
    listed = {"userId": user_id, "kind": TEMPORARY, "status": {"$ne": DELETED}}
    collection = store.collection(COLLECTION)
    docs = await collection.find(listed, sort=[("createdAt", -1), ("_id", -1)], skip=skip, limit=limit)
    return [_link(doc) for doc in docs], await collection.count(listed)


async def change_temporary_status(
    store: Store, user_id: str, value: str, *, before: tuple[str, ...], after: str, now: int, live_only: bool
) -> bool:
    """Move the user's link from one of the `before` states to `after` (with `live_only`, only while it has
    not expired); False when it was in no such state."""
    wanted: dict[str, object] = {**_owned_temporary(user_id, value), "status": {"$in": list(before)}}
    if live_only:
        wanted["expiresAt"] = {"$gt": now}
    change = {"status": after, **({"deletedAt": now} if after == DELETED else {})}
    return await store.collection(COLLECTION).update_one(wanted, {"$set": change}) == 1


async def rename_temporary(store: Store, user_id: str, value: str, name: str, *, now: int) -> bool:
    """Rename the user's link while active or paused and not expired; False otherwise."""
    wanted = {
        **_owned_temporary(user_id, value),
        "status": {"$in": [ACTIVE, PAUSED]},
        "expiresAt": {"$gt": now},
    }
    return await store.collection(COLLECTION).update_one(wanted, {"$set": {"name": name}}) == 1


async def withdraw_temporary(store: Store, user_id: str, value: str) -> None:
    """Remove a link that was never handed out (it went over the user's limit)."""
    await store.collection(COLLECTION).delete_one(_owned_temporary(user_id, value))


def _link(doc: Document) -> TemporaryLink:
    return TemporaryLink(
        value=doc["_id"],
        link_id=doc.get("linkId", ""),
        name=doc.get("name", ""),
        status=doc.get("status", ACTIVE),
        expires_at=doc.get("expiresAt", 0),
        created_at=doc.get("createdAt", 0),
    )
