"""Group links ("subscription links"): one push key, many receivers. The creator's side.

A creator makes a link (named, open to the market or private), shares its subscribe page
(`{public_url}/s/{id}`) or that page's QR code, and later pushes once with the link's key. The push key
is the creator's secret; everything a subscriber or a market visitor sees names the link by its public
`id` only (`shared.data.group_links`).

The creator lists their links with their subscriber counts, sees the subscribers (e-mail addresses
masked) and the link's topics, renames and deletes topics, and renames, closes or deletes the link. A
closed link takes no new subscribers and leaves the market; a deleted one is gone, with its
subscriptions and topics. Someone else's key and a key that does not exist are answered alike (203).

A user may have `IGOT_GROUP_LINKS_PER_USER` links that are not deleted; as for temporary links, each
creation counts again after its insert and withdraws it when over the limit, so two creations at once in
two processes cannot both pass.
"""

from __future__ import annotations

import asyncio
import unicodedata
from dataclasses import dataclass
from typing import Any

from services.auth.data import users
from services.auth.key_events import announce_keys_changed
from services.auth.link_keys import insert_within_cap
from services.auth.signin import mask_email
from services.auth.temporary_links import qr_png, valid_name
from shared.bus import Bus
from shared.data import group_links, subscriptions
from shared.data.group_links import ACTIVE, CLOSED, DELETED, GroupLink
from shared.data.subscriptions import Subscription
from shared.envelope import ApiError, Ret, invalid, not_found
from shared.ids import is_hex24, new_id, now_ms
from shared.logs import get_logger
from shared.store import DuplicateKeyError, Store
from shared.timefmt import iso_ms

MAX_TOPIC_LENGTH = 64
MAX_TOPICS_LISTED = 1000
_NOT_IN_A_TOPIC = frozenset({"Cc", "Zl", "Zp"})

log = get_logger("igot.auth.group_links")


@dataclass(frozen=True)
class GroupLinkPolicy:
    public_url: str
    per_user: int


def subscribe_page_url(public_url: str, link_id: str) -> str:
    return f"{public_url.rstrip('/')}/s/{link_id}"


def subscribe_qr_url(public_url: str, link_id: str) -> str:
    return f"{subscribe_page_url(public_url, link_id)}/qr.png"


def flag(raw: object, name: str, *, default: bool) -> bool:
    """A yes/no field: JSON true/false, 1/0, or their text as forms send it; absent: `default`."""
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str) and raw.strip().lower() in ("true", "1", "false", "0"):
        return raw.strip().lower() in ("true", "1")
    raise invalid(f"{name} must be true or false")


def valid_topic(raw: object) -> str:
    """A topic name trimmed: 1 to 64 characters on one line, else ret 202."""
    if not isinstance(raw, str):
        raise invalid(f"a topic must be text of 1 to {MAX_TOPIC_LENGTH} characters")
    topic = raw.strip()
    if not 1 <= len(topic) <= MAX_TOPIC_LENGTH:
        raise invalid(f"a topic must be 1 to {MAX_TOPIC_LENGTH} characters")
    if any(unicodedata.category(char) in _NOT_IN_A_TOPIC for char in topic):
        raise invalid("a topic must be one line without control characters")
    return topic


def valid_link_id(raw: str) -> str:
    """A link's public id as a path gives it; anything else is no link (203)."""
    if not is_hex24(raw):
        raise not_found("no such group link")
    return raw


class GroupLinks:
    def __init__(self, store: Store, bus: Bus, policy: GroupLinkPolicy) -> None:
        self._store = store
        self._bus = bus
        self._policy = policy

    async def create(self, user_id: str, name: object, open_: object) -> tuple[str, str]:
        """The new link's push key and public id."""
        chosen = valid_name(name)
        listed = flag(open_, "open", default=False)
        link_id = new_id()
        now = now_ms()
        key = await insert_within_cap(
            insert=lambda key: group_links.insert(
                self._store,
                key=key,
                user_id=user_id,
                name=chosen,
                link_id=link_id,
                open=listed,
                created_at=now,
            ),
            count_live=lambda: group_links.count_live_of_user(self._store, user_id),
            withdraw=lambda key: group_links.withdraw(self._store, user_id, key),
            cap=self._policy.per_user,
            over_limit=self._over_limit,
        )
        log.info("group link created", link_id=link_id, open=listed)
        return key, link_id

    async def page(self, user_id: str, *, skip: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        links, count = await group_links.list_of_user(self._store, user_id, skip=skip, limit=limit)
        counts = await asyncio.gather(
            *(subscriptions.count_for_link(self._store, link.link_id) for link in links)
        )
        shown = [
            {
                "key": link.key,
                "name": link.name,
                "subscribe": subscribe_qr_url(self._policy.public_url, link.link_id),
                "id": link.link_id,
                "open": link.open,
                "status": link.status,
                "subscribers": subscribers,
            }
            for link, subscribers in zip(links, counts, strict=True)
        ]
        return shown, count

    async def market(self, *, skip: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """Open, active links of every user; never a push key."""
        links, count = await group_links.list_market(self._store, skip=skip, limit=limit)
        counts = await asyncio.gather(
            *(subscriptions.count_for_link(self._store, link.link_id) for link in links)
        )
        shown = [
            {
                "name": link.name,
                "subscribe": subscribe_qr_url(self._policy.public_url, link.link_id),
                "id": link.link_id,
                "subscribers": subscribers,
            }
            for link, subscribers in zip(links, counts, strict=True)
        ]
        return shown, count

    async def subscribers(
        self, user_id: str, key: str, *, skip: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        link = await self._owned(user_id, key)
        page, count = await subscriptions.list_for_link(self._store, link.link_id, skip=skip, limit=limit)
        accounts = await asyncio.gather(*(users.get_by_id(self._store, sub.user_id) for sub in page))
        shown = [
            {
                "user": mask_email(str(account["email"])) if account is not None else "***",
                "strong": sub.strong,
                "topics": list(sub.topics),
                "since": iso_ms(sub.created_at),
            }
            for sub, account in zip(page, accounts, strict=True)
        ]
        return shown, count

    async def topics(self, user_id: str, key: str) -> list[dict[str, Any]]:
        link = await self._owned(user_id, key)
        topics = await group_links.list_topics(self._store, link.link_id, limit=MAX_TOPICS_LISTED)
        return [{"name": topic.name, "createdAt": iso_ms(topic.created_at)} for topic in topics]

    async def rename_topic(self, user_id: str, key: str, name: object, to: object) -> None:
        """Rename a topic; subscribers who chose it follow it to its new name."""
        old, new = valid_topic(name), valid_topic(to)
        link = await self._owned(user_id, key)
        topic = await group_links.get_topic(self._store, link.link_id, old)
        if topic is None:
            raise not_found("the link has no such topic")
        if old == new:
            return
        try:
            await group_links.insert_topic(self._store, link.link_id, new, created_at=topic.created_at)
        except DuplicateKeyError:
            raise ApiError(Ret.WRONG_STATE, "the link has a topic of that name already") from None
        await group_links.delete_topic(self._store, link.link_id, old)
        moved = await self._move_choices(link.link_id, old, new)
        log.info("group link topic renamed", link_id=link.link_id, subscriptions=moved)

    async def _move_choices(self, link_id: str, old: str, new: str) -> int:
        moved = 0
        async for page in subscriptions.with_topic(self._store, link_id, old):
            for sub in page:
                current: Subscription | None = sub
                # A subscriber changing their choices meanwhile wins; their new choices are read again.
                while current is not None and old in current.topics:
                    topics = list(dict.fromkeys(new if topic == old else topic for topic in current.topics))
                    if await subscriptions.replace_topics(
                        self._store, link_id, current.user_id, topics, version=current.version, now=now_ms()
                    ):
                        moved += 1
                        break
                    current = await subscriptions.get(self._store, link_id, current.user_id)
        return moved

    async def delete_topic(self, user_id: str, key: str, name: object) -> None:
        """Remove a topic from the list; a push with it later creates it again, and the subscribers who
        chose it keep their choice (removing it could leave them with no choice, which means every topic)."""
        topic = valid_topic(name)
        link = await self._owned(user_id, key)
        if not await group_links.delete_topic(self._store, link.link_id, topic):
            raise not_found("the link has no such topic")
        log.info("group link topic deleted", link_id=link.link_id)

    async def rename(self, user_id: str, key: str, name: object) -> None:
        chosen = valid_name(name)
        link = await self._owned(user_id, key)
        if not await group_links.rename(self._store, user_id, key, chosen):
            raise ApiError(Ret.WRONG_STATE, "the link changed meanwhile")
        log.info("group link renamed", link_id=link.link_id)
        await announce_keys_changed(self._bus, user_id=user_id, keys=[key])

    async def close(self, user_id: str, key: str) -> None:
        link = await self._owned(user_id, key)
        if not await group_links.change_status(
            self._store, user_id, key, before=(ACTIVE,), after=CLOSED, now=now_ms()
        ):
            raise ApiError(Ret.WRONG_STATE, "the link is not active")
        log.info("group link closed", link_id=link.link_id)
        await announce_keys_changed(self._bus, user_id=user_id, keys=[key])

    async def delete(self, user_id: str, key: str) -> None:
        link = await self._owned(user_id, key)
        if not await group_links.change_status(
            self._store, user_id, key, before=(ACTIVE, CLOSED), after=DELETED, now=now_ms()
        ):
            raise ApiError(Ret.WRONG_STATE, "the link changed meanwhile")
        await announce_keys_changed(self._bus, user_id=user_id, keys=[key])
        removed = await subscriptions.delete_for_link(self._store, link.link_id)
        await group_links.delete_topics_of_link(self._store, link.link_id)
        log.info("group link deleted", link_id=link.link_id, subscriptions=removed)

    async def public(self, link_id: str) -> tuple[GroupLink, int]:
        """A link as its subscribe page shows it (never its key), with its subscriber count."""
        link = await group_links.get_by_link_id(self._store, valid_link_id(link_id))
        if link is None:
            raise not_found("no such group link")
        return link, await subscriptions.count_for_link(self._store, link.link_id)

    async def qr_code(self, link_id: str) -> bytes:
        link = await group_links.get_by_link_id(self._store, valid_link_id(link_id))
        if link is None:
            raise not_found("no such group link")
        return qr_png(subscribe_page_url(self._policy.public_url, link.link_id))

    async def _owned(self, user_id: str, key: str) -> GroupLink:
        link = await group_links.get_of_user(self._store, user_id, key) if is_hex24(key) else None
        if link is None:
            # The same answer whether the key is someone else's, deleted or never existed.
            raise not_found("no such group link")
        return link

    def _over_limit(self) -> ApiError:
        return ApiError(Ret.WRONG_STATE, f"at most {self._policy.per_user} group links that are not deleted")
