"""Users: `{_id, email, key, createdAt}`; the e-mail is unique."""

from __future__ import annotations

from shared.store import Document, IndexSpec, Store

COLLECTION = "users"
INDEXES = (IndexSpec(COLLECTION, (("email", 1),), unique=True),)


async def insert(store: Store, *, user_id: str, email: str, key: str, created_at: int) -> None:
    """Raises `DuplicateKeyError` when the e-mail is taken."""
    await store.collection(COLLECTION).insert_one(
        {"_id": user_id, "email": email, "key": key, "createdAt": created_at}
    )


async def get_by_email(store: Store, email: str) -> Document | None:
    return await store.collection(COLLECTION).find_one({"email": email})
