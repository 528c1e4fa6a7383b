"""What a verdict does to a group push, and an operator's decision on a review.

* pass: the message records `checked: 2` and `GroupMessageApprovedV1` goes on to fanout;
* reject: the message records `checked: 1` and its category; nobody receives it, the sender's status
  query answers ret 206;
* review: a `content` review is opened (`shared.data.moderation_reviews`) and the message records
  `moderation.verdict: review` (still `checked: 0`); it waits, intact, for an operator.

An operator's `approve` of a content review records `checked: 2` (`by: operator`) and publishes the
approved message, rebuilt from the stored one; `reject` records `checked: 1`. On a `complaint` review
(a receiver's, after delivery) `approve` dismisses the complaint and `reject` records the message as
rejected (`category: complaint`); deliveries already made stay made.

Everything here may run twice (a redelivered check, a command repeated after a crash) and ends the same:
the message's record is one single-document update, an operator's decision is never overwritten by the
service's own verdicts, and a second publish of an approved message is skipped once fanout began
(fanout's page records would absorb it anyway: a repeated first page writes no entry twice).
"""

from __future__ import annotations

from typing import Any, Literal

from services.moderation.check import CheckOutcome
from shared.bus import Bus, PublishError, TransientError
from shared.bus.port import MESSAGE_HEADER
from shared.data import fanout_jobs, messages, moderation_reviews
from shared.data.moderation_reviews import Review
from shared.ids import now_ms
from shared.logs import get_logger
from shared.messages.group import GroupMessageApprovedV1
from shared.store import Document, Store

log = get_logger("igot.moderation.decisions")

OPERATOR = "operator"
COMPLAINT = "complaint"  # the category of a message rejected on a receiver's complaint
REVIEWED = "review"  # the category of a held message an operator rejected without naming one


async def apply(store: Store, bus: Bus, message: Document, outcome: CheckOutcome, *, now: int) -> None:
    """Carry out the service's verdict on a stored group push."""
    message_id = message["_id"]
    record = outcome.as_document(checked_at=now)
    if outcome.verdict == "review":
        await moderation_reviews.open_review(
            store,
            message_id=message_id,
            kind="content",
            reason=outcome.reason,
            category=outcome.category,
            details=_review_details(message, outcome),
            now=now,
        )
        # Opened first: a held message always has its review, whatever stops this handler.
        await messages.record_check(store, message_id, checked=messages.CHECK_PENDING, moderation=record)
        return
    checked = messages.CHECK_PASSED if outcome.verdict == "pass" else messages.CHECK_REJECTED
    if not await messages.record_check(store, message_id, checked=checked, moderation=record):
        log.info("verdict not recorded: an operator decided the message already, or it is gone")
        return
    if outcome.verdict == "pass":
        await publish_approved(store, bus, message)


async def resume(store: Store, bus: Bus, message: Document) -> bool:
    """Finish what an earlier check or decision of this message began; False when it was never decided
    (check it). A redelivered message thus ends as the first delivery decided, whatever the lexicon says
    now."""
    checked = messages.check_state(message)
    if checked == messages.CHECK_PASSED:
        await publish_approved(store, bus, message)
        return True
    if checked == messages.CHECK_REJECTED:
        return True
    if (message.get("moderation") or {}).get("verdict") != "review":
        return False
    review = await moderation_reviews.get(store, moderation_reviews.review_id(message["_id"], "content"))
    if review is None:
        return False  # held, but its review is gone: check it again, which opens a new one
    if review.status != "open":
        await _carry_out(store, bus, review, now=review.decided_at or now_ms())
    return True


async def approve(store: Store, bus: Bus, review_id: str, *, by: str) -> Review | None:
    """Approve an open review (or repeat an approval); None when there is no such review, or it was
    rejected. A content review's message is delivered; a complaint is dismissed."""
    return await _decide(store, bus, review_id, verdict="approved", by=by)


async def reject(store: Store, bus: Bus, review_id: str, *, by: str) -> Review | None:
    """Reject an open review (or repeat a rejection); None when there is no such review, or it was
    approved. The message records `checked: 1`; a held one is never delivered."""
    return await _decide(store, bus, review_id, verdict="rejected", by=by)


async def _decide(
    store: Store, bus: Bus, review_id: str, *, verdict: Literal["approved", "rejected"], by: str
) -> Review | None:
    now = now_ms()
    review = await moderation_reviews.decide(store, review_id, verdict=verdict, by=by, now=now)
    if review is None:
        # Not open: a repeat of the same decision redoes its effects (the first may have stopped midway).
        review = await moderation_reviews.get(store, review_id)
        if review is None or review.status != verdict:
            return None
    await _carry_out(store, bus, review, now=now)
    log.info(
        "moderation verdict",
        message_id=review.message_id,
        review_id=review.id,
        verdict="pass" if verdict == "approved" else "reject",
        kind=review.kind,
        category=review.category,
        by=OPERATOR,
        operator=by,
    )
    return review


async def _carry_out(store: Store, bus: Bus, review: Review, *, now: int) -> None:
    """The effect of a decided review on its message."""
    record: dict[str, Any] = {"by": OPERATOR, "checkedAt": now, "review": review.id}
    if review.decided_by:
        record["decidedBy"] = review.decided_by
    if review.kind == "complaint":
        if review.status == "rejected":
            record.update(verdict="reject", category=COMPLAINT)
            await messages.record_check(
                store, review.message_id, checked=messages.CHECK_REJECTED, moderation=record, by_operator=True
            )
        return  # an approved complaint is dismissed: the message stays as it was
    if review.status == "rejected":
        record.update(verdict="reject", category=review.category or REVIEWED)
        await messages.record_check(
            store, review.message_id, checked=messages.CHECK_REJECTED, moderation=record, by_operator=True
        )
        return
    record["verdict"] = "pass"
    if not await messages.record_check(
        store, review.message_id, checked=messages.CHECK_PASSED, moderation=record, by_operator=True
    ):
        log.warning("approved message is gone: nothing to deliver", message_id=review.message_id)
        return
    message = await messages.get_by_id(store, review.message_id)
    if message is not None:
        await publish_approved(store, bus, message)


async def publish_approved(store: Store, bus: Bus, message: Document) -> None:
    """Hand a passed message to fanout, unless fanout began it already (a repeat)."""
    if await fanout_jobs.progress_of(store, message["_id"]) is not None:
        return
    event = approved_event(message)
    try:
        await bus.publish(event, headers={MESSAGE_HEADER: event.message_id})
    except PublishError as error:
        raise TransientError(f"approved message not published: {error}") from error


def approved_event(message: Document) -> GroupMessageApprovedV1:
    """The approved group push, from the stored message (it holds every field the accepted event had)."""
    return GroupMessageApprovedV1(**messages.group_push_fields(message))


def _review_details(message: Document, outcome: CheckOutcome) -> dict[str, Any]:
    details: dict[str, Any] = {"keyKind": message.get("keyKind"), "senderId": message.get("senderId")}
    if message.get("linkId"):
        details["linkId"] = message["linkId"]
    if outcome.hits:
        details["hits"] = [hit.as_document() for hit in outcome.hits]
    if outcome.remote is not None:
        details["remote"] = outcome.remote.as_document()
    return details
