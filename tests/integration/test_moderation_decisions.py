"""Moderation's decisions on the store, in both store adapters, without processes: a redelivered check
or a repeated operator decision changes nothing, an operator's decision is never undone by a check redone
later, a complaint is dismissed or upheld, and an approved push is published again only until fanout
began.
"""

from __future__ import annotations

from typing import Any, cast

import pytest

from services.moderation import decisions
from services.moderation.check import CheckOutcome
from shared.bus import Bus
from shared.data import fanout_jobs, messages, moderation_reviews
from shared.store import Store


class RecordingBus:
    """Takes every publish (the part of the bus port decisions use), in order."""

    def __init__(self) -> None:
        self.published: list[Any] = []

    async def publish(self, message: Any, *, headers: Any = None, delay_seconds: float = 0) -> None:
        self.published.append(message)


def stored_group_push(message_id: str) -> dict[str, Any]:
    return {
        "_id": message_id,
        "senderId": "creator",
        "keyKind": "group",
        "linkId": "link-1",
        "source": "news",
        "topic": "weather",
        "level": "critical",
        "app": "iGot",
        "body": {"title": "t", "content": "c"},
        "createdAt": 1_700_000_000_000,
    }


async def test_decisions_repeat_harmlessly_and_an_operator_has_the_last_word(store: Store) -> None:
    recorder = RecordingBus()
    bus = cast(Bus, recorder)
    passed, held, complained = (
        stored_group_push("m-pass"),
        stored_group_push("m-held"),
        stored_group_push("m-c"),
    )
    for message in (passed, held, complained):
        await messages.insert(store, message)

    # A pass publishes the approved push with the accepted one's fields; a redelivery publishes it again
    # until fanout began, then no more.
    await decisions.apply(store, bus, passed, CheckOutcome("pass", "lexicon"), now=5)
    [event] = recorder.published
    assert (event.message_id, event.link_id, event.topic, event.urgent) == (
        "m-pass",
        "link-1",
        "weather",
        True,
    )
    stored = await messages.get_by_id(store, "m-pass")
    assert stored is not None and stored["checked"] == messages.CHECK_PASSED
    assert await decisions.resume(store, bus, stored) and len(recorder.published) == 2
    await fanout_jobs.start_page(store, "m-pass", page=0, token="m-pass", now=6)
    assert await decisions.resume(store, bus, stored) and len(recorder.published) == 2
    recorder.published.clear()

    # Held, approved; a check redone later (another verdict) does not undo the operator's decision.
    review = CheckOutcome("review", "remote", category="politics")
    await decisions.apply(store, bus, held, review, now=5)
    await decisions.apply(store, bus, held, review, now=6)  # redelivered: still one review
    assert (await moderation_reviews.list_reviews(store))[1] == 1
    held_id = moderation_reviews.review_id("m-held", "content")
    assert await decisions.approve(store, bus, held_id, by="alice") is not None
    await decisions.apply(store, bus, held, CheckOutcome("reject", "lexicon", category="x"), now=7)
    stored = await messages.get_by_id(store, "m-held")
    assert stored is not None and stored["checked"] == messages.CHECK_PASSED
    assert (stored["moderation"]["by"], stored["moderation"]["decidedBy"]) == ("operator", "alice")
    assert [event.message_id for event in recorder.published] == ["m-held"]
    assert await decisions.reject(store, bus, held_id, by="bob") is None
    assert await decisions.approve(store, bus, "no-such:content", by="alice") is None

    # A complaint: dismissed, the message is untouched; upheld, it records the rejection.
    await decisions.apply(store, bus, complained, CheckOutcome("pass", "lexicon"), now=5)
    complaint_id = moderation_reviews.review_id("m-c", "complaint")
    for other in ("m-dismissed", "m-open"):  # complaints about messages the test does not store
        assert await moderation_reviews.open_review(
            store, message_id=other, kind="complaint", reason="complaint", category=None, details={}, now=8
        )
    opened = await moderation_reviews.open_review(
        store,
        message_id="m-c",
        kind="complaint",
        reason="complaint: spam",
        category="spam",
        details={},
        now=8,
    )
    assert opened and not await moderation_reviews.open_review(
        store, message_id="m-c", kind="complaint", reason="again", category=None, details={}, now=9
    )
    upheld = await decisions.reject(store, bus, complaint_id, by="alice")
    assert upheld is not None and upheld.status == "rejected"
    stored = await messages.get_by_id(store, "m-c")
    assert stored is not None and stored["checked"] == messages.CHECK_REJECTED
    assert stored["moderation"]["category"] == "complaint"
    dismissed = await decisions.approve(
        store, bus, moderation_reviews.review_id("m-dismissed", "complaint"), by="a"
    )
    assert dismissed is not None and dismissed.status == "approved"
    listed, count = await moderation_reviews.list_reviews(store, status="open")
    assert (count, [r.message_id for r in listed]) == (1, ["m-open"])
    with pytest.raises(ValueError, match="unknown review status"):
        await moderation_reviews.list_reviews(store, status="closed")
