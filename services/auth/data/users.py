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


# Account states. `status` is absent while the account is active; "disabled" (by an operator) and
# "deleting" (deletion confirmed, until the purge has removed every trace) keep it from signing in.
# `statusAt` is when the state last changed: the purge waits a while after it before starting.
STATUS_INDEXES = (IndexSpec(COLLECTION, (("status", 1), ("statusAt", 1))),)
ACTIVE, DISABLED, DELETING = "active", "disabled", "deleting"


def status_of(user: Document) -> str:
    return str(user.get("status") or ACTIVE)


async def get_by_id(store: Store, user_id: str) -> Document | None:
    return await store.collection(COLLECTION).find_one({"_id": user_id})


async def set_status(store: Store, user_id: str, status: str, *, at_ms: int) -> bool:
    """Change the account's state; False when there is no such user."""
    change: dict[str, dict[str, object]] = {"$set": {"statusAt": at_ms}}
    if status == ACTIVE:
        change["$unset"] = {"status": ""}
    else:
        change["$set"]["status"] = status
    return await store.collection(COLLECTION).update_one({"_id": user_id}, change) == 1


async def list_deleting(store: Store, *, changed_before_ms: int, limit: int) -> list[Document]:
    """Accounts whose deletion was confirmed before `changed_before_ms`, oldest first."""
    return await store.collection(COLLECTION).find(
        {"status": DELETING, "statusAt": {"$lt": changed_before_ms}}, sort=[("statusAt", 1)], limit=limit
    )


async def delete_deleting(store: Store, user_id: str) -> bool:
    """Remove an account being deleted (the last step of its purge); the e-mail is free again."""
    return await store.collection(COLLECTION).delete_one({"_id": user_id, "status": DELETING}) == 1
