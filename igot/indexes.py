"""Every index the data layer relies on; created by `igot migrate` and at each start."""

from __future__ import annotations

from services.auth.data import login_codes, users
from shared.data import inbox, keys, outbox, tokens
from shared.store import IndexSpec

ALL_INDEXES: tuple[IndexSpec, ...] = (
    *users.INDEXES,
    *login_codes.INDEXES,
    *keys.INDEXES,
    *tokens.INDEXES,
    *outbox.INDEXES,
    *inbox.INDEXES,
)
