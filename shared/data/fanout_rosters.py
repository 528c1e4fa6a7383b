"""The audience of a group link's push, written down when its fanout starts: numbered pages of recipients.

A fanout works one page of recipients per bus message, and a page redone after a crash must find the very
recipients it had. Reading each page from `subscriptions` as "the next `page_size` after the last `_id`
done" is an index range on MongoDB, but a server that filters and sorts in memory (FerretDB) reads the
whole collection for every page: quadratic in the audience. So the first page reads the link's subscribers
who want the message's topic once, in one pass (`subscriptions.stream_for_link`), and writes them down as
roster pages `{_id: "<message id>:r<page>", messageId, page, users: [...], strong: [...]}` (two parallel
lists: the test server stores no arrays of arrays); every page then reads its own by `_id`.

A roster counts once its marker is written (`fanout_jobs.roster_built`, with the number of pages); a
build cut short before that is thrown away and made again, so no page ever mixes two builds. Who
subscribes or leaves while the fanout runs is in it as of the build. The pages go when the job is done.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.data import fanout_jobs, subscriptions
from shared.store import Document, IndexSpec, Store

COLLECTION = "fanout_rosters"
INDEXES = (IndexSpec(COLLECTION, (("messageId", 1),)),)
# Roster pages written per insert: fewer round trips, and still only this many pages in memory.
PAGES_PER_WRITE = 20
# Subscriptions read per round trip of the one pass over them.
READ_BATCH = 5000


@dataclass(frozen=True)
class Recipient:
    user_id: str
    strong: bool


def _page_id(message_id: str, page: int) -> str:
    return f"{message_id}:r{page:08d}"


async def build(
    store: Store, message_id: str, *, link_id: str, topic: str | None, page_size: int, now: int
) -> int:
    """Write the message's roster unless it is written already; the number of its pages."""
    written = await fanout_jobs.roster_pages(store, message_id)
    if written is not None:
        return written
    collection = store.collection(COLLECTION)
    await collection.delete_many({"messageId": message_id})  # what a build cut short left
    pages: list[Document] = []
    count = 0
    current: list[subscriptions.Subscription] = []
    async for found in subscriptions.stream_for_link(store, link_id, topic=topic, batch_size=READ_BATCH):
        for sub in found:
            current.append(sub)
            if len(current) == page_size:
                pages.append(_roster_page(message_id, count, current))
                count, current = count + 1, []
        if len(pages) >= PAGES_PER_WRITE:
            await collection.insert_many(pages)
            pages.clear()
    if current:
        pages.append(_roster_page(message_id, count, current))
        count += 1
    if pages:
        await collection.insert_many(pages)
    await fanout_jobs.roster_built(store, message_id, pages=count, now=now)
    return count


def _roster_page(message_id: str, number: int, subs: list[subscriptions.Subscription]) -> Document:
    return {
        "_id": _page_id(message_id, number),
        "messageId": message_id,
        "page": number,
        "users": [sub.user_id for sub in subs],
        "strong": [sub.strong for sub in subs],
    }


async def page(store: Store, message_id: str, number: int) -> list[Recipient]:
    """Page `number` of the roster; empty once the job is done and its roster gone."""
    doc = await store.collection(COLLECTION).find_one({"_id": _page_id(message_id, number)})
    if doc is None:
        return []
    return [Recipient(user, bool(strong)) for user, strong in zip(doc["users"], doc["strong"], strict=True)]


async def drop(store: Store, message_id: str) -> None:
    await store.collection(COLLECTION).delete_many({"messageId": message_id})
