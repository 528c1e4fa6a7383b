"""Client API tokens (owned by auth; every service with `/open/` routes checks them).

Only a SHA-256 of the token is stored, so a leaked database does not leak sessions. Expired tokens are
kept for a while so that a client hears "expired" (302) rather than "wrong" (301); the sweeper removes them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from shared.store import IndexSpec, Store

COLLECTION = "tokens"
INDEXES = (IndexSpec(COLLECTION, (("userId", 1),)), IndexSpec(COLLECTION, (("expiresAt", 1),)))
# How long an expired token is still recognised as "expired" before it is forgotten.
EXPIRED_GRACE_MS = 7 * 24 * 3600 * 1000


@dataclass(frozen=True)
class Session:
    user_id: str
    expires_at: int


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def insert(store: Store, *, token: str, user_id: str, created_at: int, expires_at: int) -> None:
    await store.collection(COLLECTION).insert_one(
        {"_id": _digest(token), "userId": user_id, "createdAt": created_at, "expiresAt": expires_at}
    )


async def get_by_token(store: Store, token: str) -> Session | None:
    doc = await store.collection(COLLECTION).find_one({"_id": _digest(token)})
    if doc is None:
        return None
    return Session(user_id=doc["userId"], expires_at=doc["expiresAt"])


async def delete_for_user(store: Store, user_id: str) -> int:
    return await store.collection(COLLECTION).delete_many({"userId": user_id})


async def delete_expired_before(store: Store, cutoff_ms: int) -> int:
    return await store.collection(COLLECTION).delete_many(
        {"expiresAt": {"$lt": cutoff_ms - EXPIRED_GRACE_MS}}
    )
