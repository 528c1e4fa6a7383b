"""Subscribing to group links: the subscriber's side.

A user subscribes by a link's public id (from its subscribe page, its QR code or the market), choosing
a strong or a weak reminder (strong: pushed on their push ways; weak: in the inbox only) and the topics
they want (none: every topic). Subscribing again changes the choices. A closed link takes no new
subscriptions nor changes (208); a deleted or unknown one is 203. Nothing here ever shows a push key.
"""

from __future__ import annotations

from typing import Any

from services.auth.group_links import flag, valid_link_id, valid_topic
from shared.data import group_links, subscriptions
from shared.data.group_links import ACTIVE, GroupLink
from shared.envelope import ApiError, Ret, invalid, not_found
from shared.ids import now_ms
from shared.logs import get_logger
from shared.store import Store

MAX_TOPICS_CHOSEN = 20

log = get_logger("igot.auth.subscriptions")


def chosen_topics(raw: object) -> list[str]:
    """The topics a subscriber chose, trimmed, without repeats; absent or empty: every topic."""
    if raw is None or raw == "":
        return []
    if not isinstance(raw, list):
        raise invalid("topics must be a list of topic names")
    topics = list(dict.fromkeys(valid_topic(item) for item in raw))
    if len(topics) > MAX_TOPICS_CHOSEN:
        raise invalid(f"at most {MAX_TOPICS_CHOSEN} topics")
    return topics


def shown(link: GroupLink, sub: subscriptions.Subscription) -> dict[str, Any]:
    return {
        "id": link.link_id,
        "name": link.name,
        "strong": sub.strong,
        "topics": list(sub.topics),
        "status": link.status,
    }


class Subscriptions:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def subscribe(self, user_id: str, link_id: str, strong: object, topics: object) -> dict[str, Any]:
        wanted_id = valid_link_id(link_id)
        reminder = flag(strong, "strong", default=True)
        chosen = chosen_topics(topics)
        link = await group_links.get_by_link_id(self._store, wanted_id)
        if link is None:
            raise not_found("no such group link")
        if link.status != ACTIVE:
            raise ApiError(Ret.WRONG_STATE, "the link is closed: it takes no subscriptions")
        created = await subscriptions.subscribe(
            self._store, link.link_id, user_id, strong=reminder, topics=chosen, now=now_ms()
        )
        log.info("subscribed" if created else "subscription changed", link_id=link.link_id)
        sub = await subscriptions.get(self._store, link.link_id, user_id)
        if sub is None:  # cancelled meanwhile by another client of the same user
            raise ApiError(Ret.WRONG_STATE, "the subscription was cancelled meanwhile")
        return shown(link, sub)

    async def cancel(self, user_id: str, link_id: str) -> None:
        if not await subscriptions.cancel(self._store, valid_link_id(link_id), user_id):
            raise not_found("no such subscription")
        log.info("subscription cancelled", link_id=link_id)

    async def page(self, user_id: str, *, skip: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        subs, count = await subscriptions.list_for_user(self._store, user_id, skip=skip, limit=limit)
        links = await group_links.get_many_by_link_id(self._store, [sub.link_id for sub in subs])
        listed = []
        for sub in subs:
            link = links.get(sub.link_id)
            # A link deleted while the page was read: its subscriptions are being removed.
            if link is not None and link.status != group_links.DELETED:
                listed.append(shown(link, sub))
        return listed, count
