"""Progress of the fanout of a group link's messages (written by fanout; the gateway shows it to the sender).

Insert-only records, so that no two processes ever update one document:

* a roster marker `{_id: "<message id>:roster", messageId, pages, builtAt}` once the job's recipients are
  written down (`shared.data.fanout_rosters`);
* a page record `{_id: "<message id>:p<page>", messageId, page, token, startedAt}` is inserted when page
  `page` starts: every page before it has written its inbox entries and handed its deliveries to the
  dispatcher (the job's checkpoint), `token` is the page message's. Its unique `_id` lets one copy of a
  page do the work: a second copy of the page, published again by a page redone after a crash, finds
  another token and stops; a redelivery of the same copy finds its own token and redoes the page
  (idempotently);
* a done record `{_id: "<message id>:done", messageId, pages, finishedAt}` once the last page is done.

The message's counters are counted, not kept: its recipients are its inbox entries
(`shared.data.inbox.count_for_message`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from shared.store import DuplicateKeyError, IndexSpec, Store

COLLECTION = "fanout_jobs"
INDEXES = (IndexSpec(COLLECTION, (("messageId", 1), ("page", 1))),)


@dataclass(frozen=True)
class Progress:
    pages: int | None  # pages of the job's roster; None until it is written
    done: bool


def _page_id(message_id: str, page: int) -> str:
    return f"{message_id}:p{page:08d}"


async def start_page(store: Store, message_id: str, *, page: int, token: str, now: int) -> bool:
    """Record that page `page` starts; False when another copy of the page owns it."""
    collection = store.collection(COLLECTION)
    try:
        await collection.insert_one(
            {
                "_id": _page_id(message_id, page),
                "messageId": message_id,
                "page": page,
                "token": token,
                "startedAt": now,
            }
        )
    except DuplicateKeyError:
        existing = await collection.find_one({"_id": _page_id(message_id, page)})
        return existing is not None and existing.get("token") == token
    return True


async def finish(store: Store, message_id: str, *, pages: int, now: int) -> None:
    with contextlib.suppress(DuplicateKeyError):  # a redone last page
        await store.collection(COLLECTION).insert_one(
            {"_id": f"{message_id}:done", "messageId": message_id, "pages": pages, "finishedAt": now}
        )


async def roster_built(store: Store, message_id: str, *, pages: int, now: int) -> None:
    # Two builds at once (two copies of a job's first page in flight together) wrote their pages from two
    # reads of the same subscriptions; the first marker stands.
    with contextlib.suppress(DuplicateKeyError):
        await store.collection(COLLECTION).insert_one(
            {"_id": f"{message_id}:roster", "messageId": message_id, "pages": pages, "builtAt": now}
        )


async def roster_pages(store: Store, message_id: str) -> int | None:
    """The number of pages of the message's roster (`shared.data.fanout_rosters`); None if not built."""
    marker = await store.collection(COLLECTION).find_one({"_id": f"{message_id}:roster"})
    return None if marker is None else int(marker["pages"])


async def progress_of(store: Store, message_id: str) -> Progress | None:
    """Where the message's fanout is; None before it began. Reads by `_id` only: cheap on any server."""
    collection = store.collection(COLLECTION)
    if await collection.find_one({"_id": _page_id(message_id, 0)}) is None:
        return None
    done = await collection.find_one({"_id": f"{message_id}:done"}) is not None
    return Progress(pages=await roster_pages(store, message_id), done=done)
