"""Group links ("subscription links"): a push key of kind `group` that many users subscribe to.

The link itself is a document of the `keys` collection (`shared.data.keys`): `{_id: <push key>, userId,
kind: group, status: active|closed|deleted, name, linkId, open, createdAt}`. The push key is the creator's
bearer secret; everyone else knows the link only by `linkId`, its public subscribe id. `open` lists it in
the market. A closed link takes no new subscribers (and, once fanout exists, no pushes); a deleted one is
gone for everyone but keeps its document, so that pushes through it are answered "gone".

Subscriptions (`shared.data.subscriptions`) and topics (`group_topics`, below) refer to the link by
`linkId` only, never by its key.

Topics are created on first use by a push (`ensure_topic`): one document per (link, topic name) whose
`_id` is `"{linkId}:{sha256(name)}"`, so that two processes creating the same topic at once settle on the
unique `_id` and neither fails.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from shared.data import keys
from shared.store import Document, DuplicateKeyError, IndexSpec, Store

GROUP = "group"
ACTIVE, CLOSED, DELETED = "active", "closed", "deleted"
TOPICS = "group_topics"

INDEXES = (
    IndexSpec(keys.COLLECTION, (("linkId", 1),)),
    IndexSpec(keys.COLLECTION, (("kind", 1), ("open", 1), ("status", 1), ("createdAt", -1))),
    IndexSpec(TOPICS, (("linkId", 1), ("createdAt", 1))),
)


@dataclass(frozen=True)
class GroupLink:
    key: str
    link_id: str
    user_id: str
    name: str
    open: bool
    status: str  # active | closed | deleted
    created_at: int


@dataclass(frozen=True)
class Topic:
    name: str
    created_at: int


def _link(doc: Document) -> GroupLink:
    return GroupLink(
        key=doc["_id"],
        link_id=doc.get("linkId", ""),
        user_id=doc.get("userId", ""),
        name=doc.get("name", ""),
        open=bool(doc.get("open", False)),
        status=doc.get("status", ACTIVE),
        created_at=doc.get("createdAt", 0),
    )


def _owned(user_id: str, key: str) -> dict[str, object]:
    return {"_id": key, "userId": user_id, "kind": GROUP}


async def insert(
    store: Store, *, key: str, user_id: str, name: str, link_id: str, open: bool, created_at: int
) -> None:
    await store.collection(keys.COLLECTION).insert_one(
        {
            "_id": key,
            "userId": user_id,
            "kind": GROUP,
            "status": ACTIVE,
            "name": name,
            "linkId": link_id,
            "open": open,
            "createdAt": created_at,
        }
    )


async def withdraw(store: Store, user_id: str, key: str) -> None:
    """Remove a link that was never handed out (it went over the user's limit)."""
    await store.collection(keys.COLLECTION).delete_one(_owned(user_id, key))


async def count_live_of_user(store: Store, user_id: str) -> int:
    return await store.collection(keys.COLLECTION).count(
        {"userId": user_id, "kind": GROUP, "status": {"$ne": DELETED}}
    )


async def get_of_user(store: Store, user_id: str, key: str) -> GroupLink | None:
    """The user's group link with this push key, unless deleted; None for anyone else's key."""
    doc = await store.collection(keys.COLLECTION).find_one(
        {**_owned(user_id, key), "status": {"$ne": DELETED}}
    )
    return _link(doc) if doc is not None else None


async def get_by_link_id(store: Store, link_id: str) -> GroupLink | None:
    """The link with this public id, unless deleted."""
    doc = await store.collection(keys.COLLECTION).find_one(
        {"linkId": link_id, "kind": GROUP, "status": {"$ne": DELETED}}
    )
    return _link(doc) if doc is not None else None


async def get_many_by_link_id(store: Store, link_ids: list[str]) -> dict[str, GroupLink]:
    """The links (deleted ones too) with these public ids, by id."""
    if not link_ids:
        return {}
    docs = await store.collection(keys.COLLECTION).find({"linkId": {"$in": link_ids}, "kind": GROUP})
    return {link.link_id: link for link in map(_link, docs)}


async def list_of_user(store: Store, user_id: str, *, skip: int, limit: int) -> tuple[list[GroupLink], int]:
    """A page of the user's group links but the deleted ones, newest first, and their count."""
    listed = {"userId": user_id, "kind": GROUP, "status": {"$ne": DELETED}}
    collection = store.collection(keys.COLLECTION)
    docs = await collection.find(listed, sort=[("createdAt", -1), ("_id", -1)], skip=skip, limit=limit)
    return [_link(doc) for doc in docs], await collection.count(listed)


async def list_market(store: Store, *, skip: int, limit: int) -> tuple[list[GroupLink], int]:
    """A page of the open, active links of every user, newest first, and their count."""
    listed = {"kind": GROUP, "open": True, "status": ACTIVE}
    collection = store.collection(keys.COLLECTION)
    docs = await collection.find(listed, sort=[("createdAt", -1), ("_id", -1)], skip=skip, limit=limit)
    return [_link(doc) for doc in docs], await collection.count(listed)


async def change_status(
    store: Store, user_id: str, key: str, *, before: tuple[str, ...], after: str, now: int
) -> bool:
    wanted = {**_owned(user_id, key), "status": {"$in": list(before)}}
    change = {"status": after, **({"deletedAt": now} if after == DELETED else {"changedAt": now})}
    return await store.collection(keys.COLLECTION).update_one(wanted, {"$set": change}) == 1


async def rename(store: Store, user_id: str, key: str, name: str) -> bool:
    wanted = {**_owned(user_id, key), "status": {"$in": [ACTIVE, CLOSED]}}
    return await store.collection(keys.COLLECTION).update_one(wanted, {"$set": {"name": name}}) == 1


def topic_id(link_id: str, name: str) -> str:
    return f"{link_id}:{hashlib.sha256(name.encode('utf-8')).hexdigest()}"


async def ensure_topic(store: Store, link_id: str, name: str, *, now: int) -> bool:
    """Create the link's topic `name` unless it exists; True when this call created it."""
    try:
        await store.collection(TOPICS).insert_one(
            {"_id": topic_id(link_id, name), "linkId": link_id, "name": name, "createdAt": now}
        )
    except DuplicateKeyError:
        return False
    return True


async def get_topic(store: Store, link_id: str, name: str) -> Topic | None:
    doc = await store.collection(TOPICS).find_one({"_id": topic_id(link_id, name)})
    return Topic(name=doc["name"], created_at=doc.get("createdAt", 0)) if doc is not None else None


async def list_topics(store: Store, link_id: str, *, limit: int) -> list[Topic]:
    docs = await store.collection(TOPICS).find(
        {"linkId": link_id}, sort=[("createdAt", 1), ("_id", 1)], limit=limit
    )
    return [Topic(name=doc["name"], created_at=doc.get("createdAt", 0)) for doc in docs]


async def insert_topic(store: Store, link_id: str, name: str, *, created_at: int) -> None:
    """Raises `DuplicateKeyError` when the link has the topic already."""
    await store.collection(TOPICS).insert_one(
        {"_id": topic_id(link_id, name), "linkId": link_id, "name": name, "createdAt": created_at}
    )


async def delete_topic(store: Store, link_id: str, name: str) -> bool:
    return await store.collection(TOPICS).delete_one({"_id": topic_id(link_id, name)}) == 1


async def delete_topics_of_link(store: Store, link_id: str) -> int:
    return await store.collection(TOPICS).delete_many({"linkId": link_id})
