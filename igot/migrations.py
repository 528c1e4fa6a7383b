"""Data migrations between releases; idempotent, run by `igot migrate` and at every standalone start.

Inbox entries of releases before messages were stored once hold the message inline (`body`, `app`,
`source`, `topic`, `extra`, `attempts`). Each is split into the message document it stands for (under the
entry's id, which was the message id) and the small entry of today. A migration interrupted half-way is
finished by the next run: messages are inserted skipping those already there, then their entries trimmed.
"""

from __future__ import annotations

from shared.data import inbox, messages
from shared.logs import get_logger
from shared.messages.push import MessageBody
from shared.store import Document, Store, scan

log = get_logger("igot.migrations")
INLINE_FIELDS = ("body", "app", "source", "topic", "extra", "attempts")


def _message_of(entry: Document) -> Document:
    return messages.new_message(
        message_id=entry["_id"],
        sender_id=entry["userId"],
        key_kind="temporary" if entry.get("source") else "fixed",
        body=MessageBody.model_validate(entry["body"]),
        created_at=entry["createdAt"],
        app=entry.get("app", "iGot"),
        source=entry.get("source"),
        topic=entry.get("topic"),
        extra=entry.get("extra"),
    )


async def split_inline_messages(store: Store) -> int:
    """Move inline messages out of inbox entries; returns how many entries were split."""
    entries = store.collection(inbox.COLLECTION)
    split = 0
    async for page in scan(entries, {"body": {"$exists": True}}):
        await store.collection(messages.COLLECTION).insert_many([_message_of(entry) for entry in page])
        for entry in page:
            trimmed = {"messageId": entry["_id"], "storedAt": entry.get("storedAt", entry["createdAt"])}
            await entries.update_one(
                {"_id": entry["_id"]}, {"$set": trimmed, "$unset": dict.fromkeys(INLINE_FIELDS, "")}
            )
        split += len(page)
    if split:
        log.info("inbox entries split into messages and entries", count=split)
    return split


async def migrate_data(store: Store) -> int:
    return await split_inline_messages(store)
