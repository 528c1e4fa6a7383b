"""Reading a large result set page by page, in `_id` order, on either adapter.

Each page is one ordinary `find`: the filter, plus `_id` greater than the last `_id` of the page before,
sorted by `_id`, limited to the page size. No `skip` (whose cost grows with the position) and no cursor
left open on the server between pages, so a scan may take as long as its consumer needs.

What a scan sees of writes made while it runs is decided by `_id` alone: a document is returned when it
matches the filter at the moment its page is read and its `_id` lies beyond the page before. A document
inserted behind the scan position is therefore never returned, one inserted ahead of it is; no document
is returned twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from shared.store.port import Collection, Document, Filter, Projection
from shared.store.query import validate_batch_size


async def scan(
    collection: Collection,
    filter: Filter,
    *,
    batch_size: int = 500,
    projection: Projection | None = None,
) -> AsyncIterator[list[Document]]:
    """Yield the documents matching `filter` in pages of at most `batch_size`, in `_id` order."""
    validate_batch_size(batch_size)
    page_filter: Filter = filter
    while True:
        page = await collection.find(page_filter, sort=[("_id", 1)], limit=batch_size, projection=projection)
        if page:
            yield page
        if len(page) < batch_size:
            return
        after = {"_id": {"$gt": page[-1]["_id"]}}
        page_filter = {"$and": [filter, after]} if filter else after
