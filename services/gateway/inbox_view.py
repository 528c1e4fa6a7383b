"""The inbox as the client API shows it: each entry joined with its message, in the seed's shape.

An inbox entry holds the recipient's state (read, mode, status); the message it points at holds what was
sent, stored once. A page of entries reads its messages in one query. An entry whose message is missing
is left out of the page (logged): showing an empty message would be worse than showing none. In detail,
the delivery attempts are the inbox's own (the entry was stored) followed by every push way's record.
A body's `format` (`markdown`, `image`) is shown only when it is not plain text.

A push through a group link lands in its subscribers' inboxes, not in its sender's; the id it returned
opens it for the sender all the same, with its `fanout` counters: `recipients` (inbox entries written so
far), of which `delivered` (on a push way, or in the inbox for weak subscribers and those without a
verified way), `failed` (every way failed) and `pending`, and `done` once every subscriber has an entry.
Such a push is checked by moderation before anyone receives it: the sender's view shows `checked` (0
pending or held for review, 1 rejected, 2 passed) and `moderation` (`verdict`, and its `category` when
it has one; never the words found). A rejected one answers ret 206 naming the category
(`moderation_refusal`), the message still shown.
"""

from __future__ import annotations

from typing import Any

from shared.data import deliveries, fanout_jobs, inbox, messages
from shared.envelope import ApiError, rejected_by_moderation
from shared.logs import get_logger
from shared.store import Document, Store
from shared.timefmt import iso_ms

log = get_logger("igot.gateway.inbox")

BODY_FIELDS = ("title", "content", "url", "automaticallyCopy", "copyText")
ATTEMPT_FIELDS = ("result", "error", "latencyMs", "escalation")


async def page_for_user(
    store: Store, user_id: str, *, skip: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """One page, newest first, and the inbox's total count."""
    entries, count = await inbox.list_for_user(store, user_id, skip=skip, limit=limit)
    found = await messages.get_many_by_id(store, (entry["messageId"] for entry in entries))
    shown = []
    for entry in entries:
        message = found.get(entry["messageId"])
        if message is None:
            log.warning(
                "inbox entry without its message", entry_id=entry["_id"], message_id=entry["messageId"]
            )
            continue
        shown.append(render(entry, message))
    return shown, count


async def detail_for_user(store: Store, user_id: str, entry_id: str) -> dict[str, Any] | None:
    """The entry with its delivery attempts; None when the user has no such entry."""
    entry = await inbox.get_for_user(store, user_id, entry_id)
    if entry is None:
        return await _sent_through_group_link(store, user_id, entry_id)
    message = await messages.get_by_id(store, entry["messageId"])
    if message is None:
        log.warning("inbox entry without its message", entry_id=entry_id, message_id=entry["messageId"])
        return None
    if not entry.get("read"):
        await inbox.mark_read(store, user_id, entry_id)
        entry["read"] = True
    records = await deliveries.list_for_entry(store, entry_id)
    shown = render(entry, message)
    shown["delivery"] = {"status": entry.get("status", "pending"), "attempts": attempts(entry, records)}
    return shown


async def _sent_through_group_link(store: Store, user_id: str, message_id: str) -> dict[str, Any] | None:
    """The sender's view of a message they pushed through one of their group links, else None."""
    message = await messages.get_by_id(store, message_id)
    if message is None or message.get("senderId") != user_id or message.get("keyKind") != "group":
        return None
    own = {"_id": message_id, "messageId": message_id, "createdAt": message["createdAt"], "read": True}
    shown = render(own, message)
    counters = await fanout_counters(store, message_id)
    checked = messages.check_state(message)
    status = "delivered" if counters["done"] and not counters["pending"] else "pending"
    if checked == messages.CHECK_REJECTED:
        status = "rejected"
    shown["delivery"] = {"status": status, "attempts": []}
    shown["fanout"] = counters
    shown["checked"] = checked
    if message.get("moderation"):
        shown["moderation"] = {
            name: message["moderation"][name]
            for name in ("verdict", "category")
            if message["moderation"].get(name) is not None
        }
    return shown


def moderation_refusal(shown: dict[str, Any]) -> ApiError | None:
    """ret 206 for the sender's view of a message moderation rejected; None for any other view."""
    if shown.get("checked") != messages.CHECK_REJECTED:
        return None
    return rejected_by_moderation(shown.get("moderation", {}).get("category"))


async def fanout_counters(store: Store, message_id: str) -> dict[str, Any]:
    recipients = await inbox.count_for_message(store, message_id)
    delivered = await inbox.count_for_message(store, message_id, status="delivered")
    failed = await inbox.count_for_message(store, message_id, status="failed")
    progress = await fanout_jobs.progress_of(store, message_id)
    return {
        "recipients": recipients,
        "delivered": delivered,
        "failed": failed,
        "pending": max(0, recipients - delivered - failed),
        "done": progress is not None and progress.done,
    }


async def delete_for_user(store: Store, user_id: str, entry_id: str) -> bool:
    """Removes one entry of the user's inbox; False when the user has no such entry.

    A message is stored once for all its recipients, so it goes only with the last entry pointing at it.
    For a push with the recipient's own key that entry is the only one (`inbox.is_senders_own`), so the
    message goes at once, in one more query; messages with other recipients stay for them.
    """
    entry = await inbox.delete_for_user(store, user_id, entry_id)
    if entry is None:
        return False
    if inbox.is_senders_own(entry):
        await messages.delete_by_id(store, entry["messageId"])
    log.info("inbox entry deleted", entry_id=entry_id, message_id=entry["messageId"])
    return True


def render(entry: Document, message: Document) -> dict[str, Any]:
    body = message.get("body", {})
    shown: dict[str, Any] = {
        "id": entry["_id"],
        "body": {name: body.get(name, "" if name != "automaticallyCopy" else 1) for name in BODY_FIELDS},
        "mode": entry.get("mode", "inbox"),
        "read": bool(entry.get("read", False)),
        "app": message.get("app", "iGot"),
        "createTime": iso_ms(entry["createdAt"]),
    }
    if body.get("format", "text") != "text":
        # Only a body that is not plain text says so: clients that predate formats show plain text.
        shown["body"]["format"] = body["format"]
    for name in ("source", "topic"):
        if message.get(name):
            shown[name] = message[name]
    if message.get("extra"):
        shown["extra"] = messages.parse_extra(message["extra"])
    return shown


def attempts(entry: Document, records: list[Document]) -> list[dict[str, Any]]:
    """The inbox's own attempt, then every push way's, oldest first (ties keep that order)."""
    stored: list[dict[str, Any]] = [
        {"way": "inbox", "at": entry.get("storedAt", entry["createdAt"]), "result": "delivered"}
    ]
    for record in records:
        for attempt in record.get("attempts", []):
            shown = {"way": record["way"], "at": attempt["at"]}
            shown.update((name, attempt[name]) for name in ATTEMPT_FIELDS if name in attempt)
            stored.append(shown)
    stored.sort(key=lambda attempt: attempt["at"])
    return [{**attempt, "at": iso_ms(attempt["at"])} for attempt in stored]
