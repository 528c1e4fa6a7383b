"""The moderation review queue (written by the moderation service and by complaints; decided by an operator).

A review is one document per (message, kind):
`{_id: "<message id>:<kind>", kind: content|complaint, messageId, status: open|approved|rejected, reason,
category?, createdAt, decidedAt?, decidedBy?, details}`. Its `_id` makes opening one a unique insert, so
two processes opening the same review at once (a redelivered check, two complaints racing) settle on one
document; deciding it is a single conditional update from `open`, so an approval and a rejection racing
each other cannot both win.

`details` carries what deciding needs later (the fields to publish the held message on, the lexicon hits,
the remote label, a complaint count); its keys follow the store's rules (no `.`, no leading `$`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast

from shared.store import Document, DuplicateKeyError, IndexSpec, Store

COLLECTION = "moderation_reviews"
# The operator's queue: the reviews in one status, oldest first.
INDEXES: tuple[IndexSpec, ...] = (IndexSpec(COLLECTION, (("status", 1), ("createdAt", 1))),)

ReviewKind = Literal["content", "complaint"]
ReviewStatus = Literal["open", "approved", "rejected"]
REVIEW_KINDS: frozenset[str] = frozenset({"content", "complaint"})
REVIEW_STATUSES: frozenset[str] = frozenset({"open", "approved", "rejected"})


@dataclass(frozen=True)
class Review:
    id: str
    kind: ReviewKind
    message_id: str
    status: ReviewStatus
    reason: str  # e.g. "remote: review (politics)" or "complaint: spam"
    category: str | None
    created_at: int
    decided_at: int | None
    decided_by: str | None
    details: dict[str, Any]  # hits, remote label, complaint count, key id ...


def review_id(message_id: str, kind: str) -> str:
    """One review per message and kind."""
    return f"{message_id}:{kind}"


def _review(doc: Document) -> Review:
    return Review(
        id=doc["_id"],
        kind=cast(ReviewKind, doc["kind"]),
        message_id=doc["messageId"],
        status=cast(ReviewStatus, doc["status"]),
        reason=doc.get("reason", ""),
        category=doc.get("category"),
        created_at=doc.get("createdAt", 0),
        decided_at=doc.get("decidedAt"),
        decided_by=doc.get("decidedBy"),
        details=dict(doc.get("details") or {}),
    )


async def open_review(
    store: Store,
    *,
    message_id: str,
    kind: str,
    reason: str,
    category: str | None,
    details: dict[str, Any],
    now: int,
) -> bool:
    """Open a review of the message; False when one of this kind exists already (open or decided)."""
    if kind not in REVIEW_KINDS:
        raise ValueError(f"unknown review kind {kind!r}: expected one of {sorted(REVIEW_KINDS)}")
    doc: Document = {
        "_id": review_id(message_id, kind),
        "kind": kind,
        "messageId": message_id,
        "status": "open",
        "reason": reason,
        "createdAt": now,
        "details": details,
    }
    if category is not None:
        doc["category"] = category
    try:
        await store.collection(COLLECTION).insert_one(doc)
    except DuplicateKeyError:
        return False
    return True


async def get(store: Store, review_id: str) -> Review | None:
    doc = await store.collection(COLLECTION).find_one({"_id": review_id})
    return _review(doc) if doc is not None else None


async def list_reviews(
    store: Store, *, status: str | None = "open", skip: int = 0, limit: int = 50
) -> tuple[list[Review], int]:
    """A page of reviews in `status` (None: every status), oldest first, and how many there are."""
    if status is not None and status not in REVIEW_STATUSES:
        raise ValueError(f"unknown review status {status!r}: expected one of {sorted(REVIEW_STATUSES)}")
    wanted: dict[str, Any] = {} if status is None else {"status": status}
    collection = store.collection(COLLECTION)
    docs = await collection.find(wanted, sort=[("createdAt", 1), ("_id", 1)], skip=skip, limit=limit)
    return [_review(doc) for doc in docs], await collection.count(wanted)


async def decide(
    store: Store, review_id: str, *, verdict: Literal["approved", "rejected"], by: str, now: int
) -> Review | None:
    """Close an open review with the operator's verdict; None when it is missing or no longer open."""
    if verdict not in ("approved", "rejected"):
        raise ValueError(f"unknown verdict {verdict!r}: expected 'approved' or 'rejected'")
    doc = await store.collection(COLLECTION).find_one_and_update(
        {"_id": review_id, "status": "open"},
        {"$set": {"status": verdict, "decidedAt": now, "decidedBy": by}},
        return_new=True,
    )
    return _review(doc) if doc is not None else None
