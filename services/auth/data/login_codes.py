"""Login codes: `{_id: sha256(code), userId, expiresAt}`.

Only a SHA-256 of the code is stored, as for tokens, so a leaked database holds no code that signs in.
The digest is the `_id`, so two users never share a code. Codes stored in clear by older releases no
longer match any digest: they lapse, as they would within minutes anyway, and the sweeper removes them.
"""

from __future__ import annotations

import hashlib

from shared.store import Document, IndexSpec, Store

COLLECTION = "login_codes"
INDEXES = (IndexSpec(COLLECTION, (("userId", 1),)), IndexSpec(COLLECTION, (("expiresAt", 1),)))


def digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


async def insert(store: Store, *, code: str, user_id: str, expires_at: int) -> None:
    """Raises `DuplicateKeyError` when the code is in use."""
    await store.collection(COLLECTION).insert_one(
        {"_id": digest(code), "userId": user_id, "expiresAt": expires_at}
    )


async def delete_for_user(store: Store, user_id: str) -> int:
    return await store.collection(COLLECTION).delete_many({"userId": user_id})


async def take(store: Store, code: str) -> Document | None:
    """Remove and return the code's record: a code signs in once."""
    return await store.collection(COLLECTION).find_one_and_delete({"_id": digest(code)})


async def delete_expired_before(store: Store, cutoff_ms: int) -> int:
    return await store.collection(COLLECTION).delete_many({"expiresAt": {"$lt": cutoff_ms}})
