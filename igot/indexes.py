"""Every index the data layer relies on; created by `igot migrate` and at each start."""

from __future__ import annotations

from services.auth.data import login_codes, login_failures, users, verifications
from shared.data import deliveries, idempotency, inbox, keys, messages, outbox, push_ways, tokens
from shared.store import IndexSpec

ALL_INDEXES: tuple[IndexSpec, ...] = (
    *users.INDEXES,
    *login_codes.INDEXES,
    *login_failures.INDEXES,
    *verifications.INDEXES,
    *keys.INDEXES,
    *tokens.INDEXES,
    *outbox.INDEXES,
    *idempotency.INDEXES,
    *messages.INDEXES,
    *inbox.INDEXES,
    *deliveries.INDEXES,
    *push_ways.INDEXES,
)
