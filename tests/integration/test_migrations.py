"""Inbox entries written before messages were stored once still show, the same, after the upgrade."""

from __future__ import annotations

from igot.migrations import migrate_data
from services.gateway.inbox_view import detail_for_user, page_for_user
from shared.data import inbox, messages
from shared.store import Document, Store

USER = "u" * 24


def legacy_entry(n: int, **fields: object) -> Document:
    """An inbox entry as the previous release wrote it: the message inline."""
    return {
        "_id": f"{n:024x}",
        "messageId": f"{n:024x}",
        "userId": USER,
        "app": "iGot",
        "body": {"title": f"t{n}", "content": f"c{n}", "url": "", "automaticallyCopy": 1, "copyText": ""},
        "createdAt": 1_700_000_000_000 + n,
        "read": n % 2 == 0,
        "mode": "inbox",
        "status": "delivered",
        "attempts": [{"way": "inbox", "at": 1_700_000_000_000 + n, "result": "delivered"}],
        **fields,
    }


async def test_inline_messages_are_split_once_and_read_as_before(store: Store) -> None:
    entries = store.collection(inbox.COLLECTION)
    for n in range(1, 504):  # more than one page of the scan
        extra = {"source": "ci", "topic": "builds", "extra": '{"run":1}'} if n == 7 else {}
        await entries.insert_one(legacy_entry(n, **extra))

    assert await migrate_data(store) == 503
    assert await migrate_data(store) == 0  # idempotent: nothing inline is left

    assert await store.collection(messages.COLLECTION).count({}) == 503
    trimmed = await entries.find_one({"_id": f"{7:024x}"})
    assert trimmed is not None
    assert sorted(trimmed) == sorted(
        ["_id", "userId", "messageId", "createdAt", "storedAt", "read", "mode", "status"]
    )
    page, count = await page_for_user(store, USER, skip=0, limit=3)
    assert count == 503
    assert [(shown["id"], shown["body"]["content"], shown["read"]) for shown in page] == [
        (f"{503:024x}", "c503", False),
        (f"{502:024x}", "c502", True),
        (f"{501:024x}", "c501", False),
    ]
    shown = await detail_for_user(store, USER, f"{7:024x}")
    assert shown is not None
    assert (shown["source"], shown["topic"], shown["extra"]) == ("ci", "builds", {"run": 1})
    assert [attempt["way"] for attempt in shown["delivery"]["attempts"]] == ["inbox"]
