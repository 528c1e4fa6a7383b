"""Login codes: `{_id: code, userId, expiresAt}`. The code is the `_id`, so two users never share one."""

from __future__ import annotations

from shared.store import Document, IndexSpec, Store

COLLECTION = "login_codes"
INDEXES = (IndexSpec(COLLECTION, (("userId", 1),)), IndexSpec(COLLECTION, (("expiresAt", 1),)))


async def insert(store: Store, *, code: str, user_id: str, expires_at: int) -> None:
    """Raises `DuplicateKeyError` when the code is in use."""
    await store.collection(COLLECTION).insert_one({"_id": code, "userId": user_id, "expiresAt": expires_at})


async def delete_for_user(store: Store, user_id: str) -> int:
    return await store.collection(COLLECTION).delete_many({"userId": user_id})


async def take(store: Store, code: str) -> Document | None:
    """Remove and return the code: a code signs in once."""
    return await store.collection(COLLECTION).find_one_and_delete({"_id": code})


async def delete_expired_before(store: Store, cutoff_ms: int) -> int:
    return await store.collection(COLLECTION).delete_many({"expiresAt": {"$lt": cutoff_ms}})
