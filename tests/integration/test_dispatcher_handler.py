"""The dispatcher's handler on the embedded store: one inbox entry per message, however often it arrives."""

from __future__ import annotations

from pathlib import Path

from services.dispatcher.consumers.accepted import AcceptedHandler
from shared.data import inbox, outbox
from shared.ids import new_id, now_ms
from shared.messages.push import MessageAcceptedV1, MessageBody
from shared.store.sqlite import SqliteStore


async def test_redelivered_message_makes_one_entry_and_leaves_the_outbox(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "igot.sqlite3")
    cleaner = outbox.batched_delete(store, "outbox-cleaner")
    handler = AcceptedHandler(store, channels={}, routed=cleaner)
    event = MessageAcceptedV1(
        message_id=new_id(),
        user_id="u" * 24,
        body=MessageBody(content="once"),
        created_at=now_ms(),
        topic="t",
    )
    try:
        await outbox.insert(store, event)
        for _ in range(3):
            await handler.handle(event)
        await cleaner.flush()
        entries, count = await inbox.list_for_user(store, "u" * 24, skip=0, limit=10)
        assert count == 1
        entry = entries[0]
        assert (entry["_id"], entry["status"], entry["mode"], entry["read"], entry["topic"]) == (
            event.message_id,
            "delivered",
            "inbox",
            False,
            "t",
        )
        assert [attempt["way"] for attempt in entry["attempts"]] == ["inbox"]
        assert await store.collection(outbox.COLLECTION).count({}) == 0
    finally:
        await store.close()
