"""Subscriptions to group links: `{_id: "{linkId}:{userId}", linkId, userId, strong, topics, allTopics,
version, createdAt, updatedAt}`.

One document per (link, subscriber), inserted with that unique `_id`: two subscribe calls at once settle
on it, and nothing about a link is ever read-modified-written across processes (a link's subscriber
count is a `count`, not a counter). `topics` empty means every topic, which `allTopics` says too, so that
both store adapters can filter on it. `version` grows with each change,
so that a change made on behalf of the subscriber (a topic renamed by the link's creator) applies only
to the choices it read.

The fanout service reads a link's subscribers in one pass, page by page (`stream_for_link`), never all
at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from shared.store import Document, DuplicateKeyError, IndexSpec, Store, scan

COLLECTION = "subscriptions"
INDEXES = (
    IndexSpec(COLLECTION, (("linkId", 1), ("_id", 1))),
    IndexSpec(COLLECTION, (("linkId", 1), ("createdAt", -1))),
    IndexSpec(COLLECTION, (("userId", 1), ("createdAt", -1))),
)


@dataclass(frozen=True)
class Subscription:
    link_id: str
    user_id: str
    strong: bool
    topics: tuple[str, ...]
    created_at: int
    version: int = 0

    def wants(self, topic: str | None) -> bool:
        """Whether a message with this topic (None: none) reaches the subscriber."""
        return not self.topics or (topic is not None and topic in self.topics)


def subscription_id(link_id: str, user_id: str) -> str:
    return f"{link_id}:{user_id}"


def _subscription(doc: Document) -> Subscription:
    return Subscription(
        link_id=doc["linkId"],
        user_id=doc["userId"],
        strong=bool(doc.get("strong", True)),
        topics=tuple(doc.get("topics", ())),
        created_at=doc.get("createdAt", 0),
        version=doc.get("version", 0),
    )


async def subscribe(
    store: Store, link_id: str, user_id: str, *, strong: bool, topics: list[str], now: int
) -> bool:
    """Subscribe, or change the choices of an existing subscription; True when it is new."""
    collection = store.collection(COLLECTION)
    sid = subscription_id(link_id, user_id)
    try:
        await collection.insert_one(
            {
                "_id": sid,
                "linkId": link_id,
                "userId": user_id,
                "strong": strong,
                "topics": topics,
                "allTopics": not topics,
                "version": 0,
                "createdAt": now,
                "updatedAt": now,
            }
        )
    except DuplicateKeyError:
        await collection.update_one(
            {"_id": sid},
            {
                "$set": {"strong": strong, "topics": topics, "allTopics": not topics, "updatedAt": now},
                "$inc": {"version": 1},
            },
        )
        return False
    return True


async def cancel(store: Store, link_id: str, user_id: str) -> bool:
    return await store.collection(COLLECTION).delete_one({"_id": subscription_id(link_id, user_id)}) == 1


async def get(store: Store, link_id: str, user_id: str) -> Subscription | None:
    doc = await store.collection(COLLECTION).find_one({"_id": subscription_id(link_id, user_id)})
    return _subscription(doc) if doc is not None else None


async def count_for_link(store: Store, link_id: str) -> int:
    return await store.collection(COLLECTION).count({"linkId": link_id})


async def list_for_link(
    store: Store, link_id: str, *, skip: int, limit: int
) -> tuple[list[Subscription], int]:
    """A page of a link's subscriptions, newest first, and their count (for the link's creator)."""
    collection = store.collection(COLLECTION)
    docs = await collection.find(
        {"linkId": link_id}, sort=[("createdAt", -1), ("_id", -1)], skip=skip, limit=limit
    )
    return [_subscription(doc) for doc in docs], await collection.count({"linkId": link_id})


async def list_for_user(
    store: Store, user_id: str, *, skip: int, limit: int
) -> tuple[list[Subscription], int]:
    """A page of the user's subscriptions, newest first, and their count."""
    collection = store.collection(COLLECTION)
    docs = await collection.find(
        {"userId": user_id}, sort=[("createdAt", -1), ("_id", -1)], skip=skip, limit=limit
    )
    return [_subscription(doc) for doc in docs], await collection.count({"userId": user_id})


async def stream_for_link(
    store: Store, link_id: str, *, topic: str | None = None, batch_size: int = 500
) -> AsyncIterator[list[Subscription]]:
    """A link's subscribers who want a message of `topic`, each once, a page at a time, in no promised
    order, in one pass of the store (for fanout, which writes them down as it goes). Only what fanout
    needs is read: link, user and strong; their topics and dates are left out.

    The filter on topics is applied in the store: no topic chosen, or `topic` among those chosen.
    """
    wanted: dict[str, object] = {"linkId": link_id, "allTopics": True}
    if topic is not None:
        chose = {"linkId": link_id, "topics": {"$elemMatch": {"$eq": topic}}}
        wanted = {"$or": [wanted, chose]}
    fields = ("linkId", "userId", "strong")  # all fanout needs: the fewer, the faster the pass
    async for page in store.collection(COLLECTION).stream(wanted, batch_size=batch_size, projection=fields):
        yield [_subscription(doc) for doc in page]


async def with_topic(
    store: Store, link_id: str, topic: str, *, batch_size: int = 500
) -> AsyncIterator[list[Subscription]]:
    """A link's subscriptions that chose `topic` by name, in `_id` order, a page at a time."""
    async for page in scan(
        store.collection(COLLECTION),
        {"linkId": link_id, "topics": {"$elemMatch": {"$eq": topic}}},
        batch_size=batch_size,
    ):
        yield [_subscription(doc) for doc in page]


async def replace_topics(
    store: Store, link_id: str, user_id: str, topics: list[str], *, version: int, now: int
) -> bool:
    """Set the choices only if they are still those of `version`; False when they changed meanwhile."""
    return (
        await store.collection(COLLECTION).update_one(
            {"_id": subscription_id(link_id, user_id), "version": version},
            {
                "$set": {"topics": topics, "allTopics": not topics, "updatedAt": now},
                "$inc": {"version": 1},
            },
        )
        == 1
    )


async def delete_for_link(store: Store, link_id: str) -> int:
    return await store.collection(COLLECTION).delete_many({"linkId": link_id})
