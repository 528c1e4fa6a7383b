"""Progress of the fanout of a group link's messages (written by fanout; the gateway shows it to the sender).

Insert-only records, so that no two processes ever update one document:

* a page record `{_id: "<message id>:p<page>", messageId, page, after, token, startedAt}` is inserted when
  page `page` starts; `after` is the `_id` of the last subscription done before it (the checkpoint: every
  page before it has written its inbox entries and handed its deliveries to the dispatcher), `token` the
  page message's. Its unique `_id` lets one copy of a page do the work: a second copy of the page,
  published again by a page redone after a crash, finds another token and stops; a redelivery of the same
  copy finds its own token and redoes the page (idempotently);
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
    pages_started: int  # pages begun so far
    after: str  # the last subscription `_id` done before the latest page began
    done: bool


def _page_id(message_id: str, page: int) -> str:
    return f"{message_id}:p{page:08d}"


async def start_page(store: Store, message_id: str, *, page: int, after: str, token: str, now: int) -> bool:
    """Record that page `page` starts after `after`; False when another copy of the page owns it."""
    collection = store.collection(COLLECTION)
    try:
        await collection.insert_one(
            {
                "_id": _page_id(message_id, page),
                "messageId": message_id,
                "page": page,
                "after": after,
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


async def progress_of(store: Store, message_id: str) -> Progress | None:
    """Where the message's fanout is; None before its first page began."""
    collection = store.collection(COLLECTION)
    latest = await collection.find_one({"messageId": message_id, "page": {"$gte": 0}}, sort=[("page", -1)])
    if latest is None:
        return None
    done = await collection.find_one({"_id": f"{message_id}:done"}) is not None
    return Progress(pages_started=latest["page"] + 1, after=latest.get("after", ""), done=done)
