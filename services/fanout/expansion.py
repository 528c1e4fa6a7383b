"""Expanding a group link's push, one page of recipients per bus message.

The first page writes down the job's roster (`shared.data.fanout_rosters`): the link's subscribers who
want the message's topic (none chosen: all), read in one pass of the store, as numbered pages. Each page
then reads its roster page and:

1. writes every recipient's inbox entry in one bulk insert, under an id derived from the message and the
   recipient (`inbox.derived_entry_id`), so that a redone page writes only what is missing: a weak
   subscriber's entry is `delivered` (the inbox is the delivery), a strong one's `pending` when they have
   a verified push way, else `delivered`;
2. hands each strong recipient with a push way to the dispatcher's router (`MessageAcceptedV2` naming
   the entry), which requests their first way, holding it through their quiet hours; the publishes of a
   page go out together and are confirmed before the page ends;
3. publishes the next page (`FanoutPageV1`) while there is one, or records the job done and drops its
   roster.

The bus holds the job's position: a page's message leaves its queue only once its handler finished, with
what it published (committed together in standalone mode; confirmed before the ack on RabbitMQ), so a
fanout killed mid-page redoes that page and no other, and never skips a recipient. Each page records its
start (`shared.data.fanout_jobs`): the checkpoint of the job, and the unique key that stops a second copy
of a page (published again by a page redone after a crash) from doing the work twice.
Only one page of recipients is in memory at a time (a few while the roster is written), whatever the
audience.
"""

from __future__ import annotations

import asyncio

from shared.bus import Bus, PublishError, TransientError
from shared.bus.port import MESSAGE_HEADER
from shared.data import fanout_jobs, fanout_rosters, inbox, push_ways
from shared.data.fanout_rosters import Recipient
from shared.ids import new_id, now_ms
from shared.logs import get_logger
from shared.messages.group import FanoutPageV1, GroupMessageApprovedV1
from shared.messages.push import MessageAcceptedV2
from shared.store import Document, Store
from shared.topology import DELIVERY_WAYS

log = get_logger("igot.fanout")
PAGE_SIZE = 500


class Expansion:
    def __init__(self, store: Store, bus: Bus, *, page_size: int = PAGE_SIZE) -> None:
        self._store = store
        self._bus = bus
        self._page_size = page_size

    async def expand(self, job: GroupMessageApprovedV1 | FanoutPageV1) -> None:
        page, token = (job.page, job.token) if isinstance(job, FanoutPageV1) else (0, job.message_id)
        if not await fanout_jobs.start_page(
            self._store, job.message_id, page=page, token=token, now=now_ms()
        ):
            log.info("page expanded by another copy already", page=page)
            return
        pages = await fanout_rosters.build(
            self._store,
            job.message_id,
            link_id=job.link_id,
            topic=job.topic,
            page_size=self._page_size,
            now=now_ms(),
        )
        found = await fanout_rosters.page(self._store, job.message_id, page) if page < pages else []
        handed = await self._deliver(job, found)
        log.info(
            "fanout page done", page=page, pages=pages, recipients=len(found), handed_to_dispatcher=handed
        )
        if page + 1 < pages:
            await self._publish(_next_page(job, page=page + 1))
        else:
            await fanout_jobs.finish(self._store, job.message_id, pages=pages, now=now_ms())
            await fanout_rosters.drop(self._store, job.message_id)
            log.info("fanout done", pages=pages)

    async def _deliver(self, job: GroupMessageApprovedV1 | FanoutPageV1, found: list[Recipient]) -> int:
        """Write the page's inbox entries, then hand the strong recipients with a way to the router."""
        strong = [sub.user_id for sub in found if sub.strong]
        ways_of = await push_ways.get_many_for_users(self._store, strong)
        stored_at = now_ms()
        entries: list[Document] = []
        handoffs: list[MessageAcceptedV2] = []
        for sub in found:
            entry_id = inbox.derived_entry_id(job.message_id, sub.user_id)
            has_way = sub.strong and _has_way(ways_of.get(sub.user_id))
            entries.append(
                inbox.new_entry(
                    entry_id=entry_id,
                    user_id=sub.user_id,
                    message_id=job.message_id,
                    created_at=job.created_at,
                    stored_at=stored_at,
                    status="pending" if has_way else "delivered",
                )
            )
            if has_way:
                handoffs.append(
                    MessageAcceptedV2(
                        message_id=job.message_id,
                        user_id=sub.user_id,
                        key_kind="group",
                        topic=job.topic,
                        strong=True,
                        urgent=job.urgent,
                        created_at=job.created_at,
                        entry_id=entry_id,
                    )
                )
        await inbox.insert_many(self._store, entries)
        await asyncio.gather(*(self._publish(event) for event in handoffs))
        return len(handoffs)

    async def _publish(self, message: MessageAcceptedV2 | FanoutPageV1) -> None:
        try:
            await self._bus.publish(message, headers={MESSAGE_HEADER: message.message_id})
        except PublishError as error:
            raise TransientError(f"fanout publish refused: {error}") from error


def _has_way(doc: Document | None) -> bool:
    return any(way.way in DELIVERY_WAYS for way in push_ways.verified_in_order(doc))


def _next_page(job: GroupMessageApprovedV1 | FanoutPageV1, *, page: int) -> FanoutPageV1:
    return FanoutPageV1(
        message_id=job.message_id,
        sender_id=job.sender_id,
        link_id=job.link_id,
        topic=job.topic,
        urgent=job.urgent,
        created_at=job.created_at,
        page=page,
        token=new_id(),
    )
