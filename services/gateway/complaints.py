"""A receiver's complaint about a message in their inbox, and the automatic pause it may cause.

Only a message from a third party can be complained about: today a push to a group link the receiver
subscribed to. A message through one's own fixed or temporary key, or through one's own group link, is
answered 208: there is nobody else to complain about.

A complaint is stored once per (message, receiver) (`shared.data.complaints`); a repeat answers success
and changes nothing. The message then has a `complaint` review in the operator's queue
(`shared.data.moderation_reviews`), opened by the first complaint (a repeat opens it too, should the first
request have stopped before it). When `complaints_to_pause` different receivers complained about one group
link within the window, the link is closed, as its creator would close it: one conditional update of
its key document, announced on the bus (`KeysChangedV1`) so that every gateway's key cache drops it at
once and pushes to it are refused (204 / HTTP 403); the creator sees it closed in their list. Closing is
the only automatic step; the link stays closed, as one its creator closed does.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from shared.bus import Bus, BusUnavailableError, PublishError
from shared.data import complaints, group_links, inbox, messages, moderation_reviews
from shared.data.complaints import Complaint
from shared.envelope import ApiError, Ret, invalid, not_found
from shared.ids import now_ms
from shared.logs import get_logger
from shared.messages.keys import KeysChangedV1
from shared.store import Store

MAX_REASON_LENGTH = 200
_ALLOWED_CONTROLS = frozenset("\t\n\r")
HOUR_MS = 3600 * 1000

log = get_logger("igot.gateway.complaints")


@dataclass(frozen=True)
class ComplaintPolicy:
    complaints_to_pause: int  # different receivers within the window; 0: never pause
    window_hours: int


def valid_reason(raw: object) -> str | None:
    """The complaint's reason, trimmed: optional text of at most 200 characters, else ret 202."""
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise invalid(f"reason must be text of at most {MAX_REASON_LENGTH} characters")
    reason = raw.strip()
    if len(reason) > MAX_REASON_LENGTH:
        raise invalid(f"reason must be at most {MAX_REASON_LENGTH} characters")
    if any(unicodedata.category(char) == "Cc" and char not in _ALLOWED_CONTROLS for char in reason):
        raise invalid("reason must not hold control characters")
    return reason or None


async def file_complaint(
    store: Store, bus: Bus, policy: ComplaintPolicy, user_id: str, entry_id: str, reason: object
) -> None:
    """The receiver `user_id` complains about the message of their inbox entry `entry_id`."""
    chosen = valid_reason(reason)
    entry = await inbox.get_for_user(store, user_id, entry_id)
    message = await messages.get_by_id(store, entry["messageId"] if entry is not None else entry_id)
    if message is None or (entry is None and message.get("senderId") != user_id):
        raise not_found("no such message")
    link_id = message.get("linkId")
    if message.get("senderId") == user_id:
        # Also the creator opening a push to their own link by the id the push returned.
        raise ApiError(Ret.WRONG_STATE, "this message was sent with your own key: nobody to complain about")
    if message.get("keyKind") != group_links.GROUP or not link_id:
        raise ApiError(
            Ret.WRONG_STATE, "only messages from a group link can be complained about, not your own keys'"
        )
    now = now_ms()
    sender_ref = complaints.group_sender_ref(link_id)
    complaint = Complaint(
        message_id=message["_id"],
        user_id=user_id,
        sender_ref=sender_ref,
        key_kind=group_links.GROUP,
        sender_id=message["senderId"],
        link_id=link_id,
        reason=chosen,
        created_at=now,
    )
    new = await complaints.insert_if_absent(store, complaint)
    if new:
        await complaints.note_complainer(store, sender_ref, user_id, now=now)
    opened = await moderation_reviews.open_review(
        store,
        message_id=message["_id"],
        kind="complaint",
        reason=f"complaint: {chosen}" if chosen else "complaint",
        category=None,
        details={
            "complaints": await complaints.count_for_message(store, message["_id"]),
            "keyKind": group_links.GROUP,
            "linkId": link_id,
        },
        now=now,
    )
    log.info("complaint", message_id=message["_id"], link_id=link_id, repeat=not new, review_opened=opened)
    if new:
        await _pause_when_over_threshold(store, bus, policy, link_id, sender_ref, now)


async def _pause_when_over_threshold(
    store: Store, bus: Bus, policy: ComplaintPolicy, link_id: str, sender_ref: str, now: int
) -> None:
    if policy.complaints_to_pause <= 0:
        return
    since = now - policy.window_hours * HOUR_MS
    complainers = await complaints.count_complainers_since(store, sender_ref, since)
    if complainers < policy.complaints_to_pause:
        return
    link = await group_links.get_by_link_id(store, link_id)
    if link is None or link.status != group_links.ACTIVE:
        return  # closed already (by its creator or an earlier complaint), or deleted
    closed = await group_links.change_status(
        store, link.user_id, link.key, before=(group_links.ACTIVE,), after=group_links.CLOSED, now=now
    )
    if not closed:
        return  # another complaint (or the creator) changed it meanwhile
    log.warning(
        "group link closed by complaints",
        link_id=link_id,
        complainers=complainers,
        threshold=policy.complaints_to_pause,
        window_hours=policy.window_hours,
    )
    try:
        await bus.publish(KeysChangedV1(user_id=link.user_id, keys=(link.key,)))
    except (PublishError, BusUnavailableError) as error:
        # The link is closed in the store all the same; key caches see it within their TTL.
        log.warning("closed link not announced; caches catch up within their TTL", error=str(error))
