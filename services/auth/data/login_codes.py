"""Login codes: `{_id: sha256(code), userId, codeId, createdAt, expiresAt}`.

Only a SHA-256 of the code is stored, as for tokens, so a leaked database holds no code that signs in.
The digest is the `_id`, so two users never share a code. `codeId` is the code's public name: sessions
begun with the code remember it (`shared.data.tokens`), so that the next code ends exactly those. Codes
stored in clear by older releases no longer match any digest: they lapse, as they would within minutes
anyway, and the sweeper removes them.
"""

from __future__ import annotations

import hashlib

from shared.store import Document, IndexSpec, Store

COLLECTION = "login_codes"
INDEXES = (IndexSpec(COLLECTION, (("userId", 1),)), IndexSpec(COLLECTION, (("expiresAt", 1),)))


def digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


async def insert(
    store: Store, *, code: str, user_id: str, expires_at: int, code_id: str = "", created_at: int = 0
) -> None:
    """Raises `DuplicateKeyError` when the code is in use."""
    doc: Document = {"_id": digest(code), "userId": user_id, "expiresAt": expires_at}
    if code_id:
        doc.update(codeId=code_id, createdAt=created_at)
    await store.collection(COLLECTION).insert_one(doc)


async def delete_for_user(store: Store, user_id: str) -> int:
    return await store.collection(COLLECTION).delete_many({"userId": user_id})


async def delete_for_user_except(store: Store, user_id: str, keep_code_id: str) -> int:
    """Every code of the user but `keep_code_id` (codes of older releases, without an id, too)."""
    return await store.collection(COLLECTION).delete_many(
        {"userId": user_id, "codeId": {"$ne": keep_code_id}}
    )


async def newer_exists(store: Store, user_id: str, code_id: str, created_at: int) -> bool:
    """Whether the user holds a code issued after the one named (so that one is no longer current)."""
    newer = await store.collection(COLLECTION).find_one(
        {"userId": user_id, "codeId": {"$ne": code_id}, "createdAt": {"$gte": created_at}}
    )
    return newer is not None


async def take(store: Store, code: str) -> Document | None:
    """Remove and return the code's record: a code signs in once."""
    return await store.collection(COLLECTION).find_one_and_delete({"_id": digest(code)})


async def delete_expired_before(store: Store, cutoff_ms: int) -> int:
    return await store.collection(COLLECTION).delete_many({"expiresAt": {"$lt": cutoff_ms}})
