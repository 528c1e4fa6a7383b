"""Every index the data layer relies on; created by `igot migrate` and at each start."""

from __future__ import annotations

from services.auth import purge
from services.auth.data import (
    deletion_codes,
    login_codes,
    login_failures,
    signin_codes,
    users,
    verifications,
    wechat_scenes,
)
from shared.data import (
    complaints,
    deliveries,
    fanout_jobs,
    fanout_rosters,
    group_links,
    idempotency,
    inbox,
    keys,
    messages,
    moderation_reviews,
    outbox,
    push_ways,
    rate_slots,
    subscriptions,
    tokens,
    wechat_tokens,
)
from shared.store import IndexSpec

ALL_INDEXES: tuple[IndexSpec, ...] = (
    *users.INDEXES,
    *users.STATUS_INDEXES,
    *deletion_codes.INDEXES,
    *purge.INDEXES,
    *login_codes.INDEXES,
    *signin_codes.INDEXES,
    *login_failures.INDEXES,
    *verifications.INDEXES,
    *wechat_scenes.INDEXES,
    *keys.INDEXES,
    *tokens.INDEXES,
    *outbox.INDEXES,
    *idempotency.INDEXES,
    *messages.INDEXES,
    *inbox.INDEXES,
    *deliveries.INDEXES,
    *push_ways.INDEXES,
    *wechat_tokens.INDEXES,
    *rate_slots.INDEXES,
    *fanout_jobs.INDEXES,
    *fanout_rosters.INDEXES,
    *group_links.INDEXES,
    *subscriptions.INDEXES,
    *complaints.INDEXES,
    *moderation_reviews.INDEXES,
)
