"""The purge: removes every trace of the accounts whose deletion was confirmed.

Every `interval` seconds it takes the accounts marked `deleting` for longer than `grace` (so that pushes
accepted just before the deletion have settled) and, for each, removes in this order: the inbox entries
and delivery records, the messages the account sent (and their outbox entries), push ways, keys,
verifications, the complaints it made, sessions, sign-in, login and deletion codes, and last the user
document itself, which frees the e-mail address for a new sign-up. Each removal is a query over what is
left, in batches of `BATCH` documents (one big delete is slow on MongoDB-compatible servers and holds
SQLite's writer for long), so a run that stops half-way, by a crash or a restart, is simply continued by
the next one. Several auth processes purging the same account at once only remove the same documents.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from services.auth.data import deletion_codes, login_codes, signin_codes, users, verifications
from shared.data import (
    complaints,
    deliveries,
    delivery_preferences,
    group_links,
    inbox,
    keys,
    messages,
    outbox,
    push_ways,
    subscriptions,
    tokens,
)
from shared.ids import now_ms
from shared.logs import get_logger
from shared.periodic import Periodic
from shared.store import Collection, Document, Filter, IndexSpec, Store, scan

log = get_logger("igot.auth.purge")

BATCH = 500
ACCOUNTS_PER_RUN = 10
CODES_KEPT_MS = 24 * 3600 * 1000
# What the purge looks documents up by, beyond the indexes their owners keep.
INDEXES = (
    IndexSpec(messages.COLLECTION, (("senderId", 1),)),
    IndexSpec(deliveries.COLLECTION, (("userId", 1),)),
    IndexSpec(complaints.COLLECTION, (("userId", 1),)),
    IndexSpec(complaints.COMPLAINERS, (("userId", 1),)),
)


async def delete_in_batches(
    collection: Collection, filter: Filter, *, also: Callable[[list[str]], Awaitable[int]] | None = None
) -> int:
    """Delete what matches `filter`, `BATCH` documents at a time; `also` first removes what depends on
    each batch (by `_id`). Returns how many documents were removed."""
    removed = 0
    while True:
        found = await collection.find(filter, limit=BATCH, projection=[])
        ids = [doc["_id"] for doc in found]
        if not ids:
            return removed
        if also is not None:
            removed += await also(ids)
        removed += await collection.delete_many({"_id": {"$in": ids}})
        if len(ids) < BATCH:
            return removed


async def purge_account(store: Store, user: Document) -> int:
    """Remove everything of one account marked `deleting`; returns how many documents went."""
    user_id = user["_id"]
    # Repeated first: a deletion interrupted before its keys were marked is completed here.
    await keys.set_owner_status(store, user_id, "deleted")
    of_user = {"userId": user_id}

    async def drop_outbox(message_ids: list[str]) -> int:
        return await outbox.delete_many(store, message_ids)

    removed = await delete_in_batches(store.collection(inbox.COLLECTION), of_user)
    removed += await delete_in_batches(store.collection(deliveries.COLLECTION), of_user)
    removed += await delete_in_batches(
        store.collection(messages.COLLECTION), {"senderId": user_id}, also=drop_outbox
    )
    removed += await store.collection(push_ways.COLLECTION).delete_many({"_id": user_id})
    removed += await delivery_preferences.delete_for_user(store, user_id)
    # The account's group links lose their subscribers and topics before the links themselves go; its
    # own subscriptions to other links go too.
    links = store.collection(keys.COLLECTION)
    async for page in scan(links, {"userId": user_id, "kind": "group"}, projection=("linkId",)):
        for link in page:
            if link.get("linkId"):
                removed += await subscriptions.delete_for_link(store, link["linkId"])
                removed += await group_links.delete_topics_of_link(store, link["linkId"])
    removed += await delete_in_batches(store.collection(subscriptions.COLLECTION), of_user)
    # The complaints the account made (those about its messages stay with the operator's reviews).
    for collection in (
        keys.COLLECTION,
        verifications.COLLECTION,
        verifications.SENDS,
        complaints.COLLECTION,
        complaints.COMPLAINERS,
    ):
        removed += await delete_in_batches(store.collection(collection), of_user)
    removed += await tokens.delete_for_user(store, user_id)
    removed += await login_codes.delete_for_user(store, user_id)
    removed += await deletion_codes.delete_for_user(store, user_id)
    # Sign-in codes mailed to the address (their tries expire with them and are swept).
    removed += await store.collection(signin_codes.COLLECTION).delete_many({"email": user["email"]})
    if await users.delete_deleting(store, user_id):
        log.info("account purged", user_id=user_id, documents=removed + 1)
        removed += 1
    return removed


class AccountPurge:
    def __init__(self, store: Store, *, interval_seconds: float, grace_seconds: float) -> None:
        self._store = store
        self._grace_ms = int(grace_seconds * 1000)
        self._periodic = Periodic(
            "account-purge",
            self.purge_once,
            interval_seconds=interval_seconds,
            report="deleted accounts purged",
        )

    async def purge_once(self) -> int:
        """Purge the accounts due now; returns how many were removed completely."""
        now = now_ms()
        # Deletion codes are kept a day as the log that throttles their mails, then swept here.
        await deletion_codes.delete_created_before(self._store, now - CODES_KEPT_MS)
        due = await users.list_deleting(
            self._store, changed_before_ms=now - self._grace_ms, limit=ACCOUNTS_PER_RUN
        )
        done = 0
        for user in due:
            await purge_account(self._store, user)
            if await users.get_by_id(self._store, user["_id"]) is None:
                done += 1
        return done

    def start(self) -> None:
        self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()
