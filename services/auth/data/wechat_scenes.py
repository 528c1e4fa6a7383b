"""The scenes of the QR codes that bind WeChat: which user a scan of each code binds.

`wechat_scenes`: `{_id: sha256(scene), userId, createdAt, expiresAt}`, one per QR code made. Only the
digest is stored, as for login codes. A scene binds once: the scan that takes it deletes it
(`find_one_and_delete`), so of two scans at the same moment one binds. Expired scenes are swept.
"""

from __future__ import annotations

import hashlib

from shared.store import Document, IndexSpec, Store

COLLECTION = "wechat_scenes"
INDEXES: tuple[IndexSpec, ...] = (IndexSpec(COLLECTION, (("expiresAt", 1),)),)


def digest(scene: str) -> str:
    return hashlib.sha256(scene.encode()).hexdigest()


async def insert(store: Store, *, scene: str, user_id: str, created_at: int, expires_at: int) -> None:
    await store.collection(COLLECTION).insert_one(
        {"_id": digest(scene), "userId": user_id, "createdAt": created_at, "expiresAt": expires_at}
    )


async def delete_by_scene(store: Store, scene: str) -> None:
    await store.collection(COLLECTION).delete_one({"_id": digest(scene)})


async def take(store: Store, scene: str, *, now: int) -> Document | None:
    """The scene's record if it has not expired, removed so that it binds once; None otherwise."""
    return await store.collection(COLLECTION).find_one_and_delete(
        {"_id": digest(scene), "expiresAt": {"$gt": now}}
    )


async def delete_expired_before(store: Store, cutoff_ms: int) -> int:
    return await store.collection(COLLECTION).delete_many({"expiresAt": {"$lt": cutoff_ms}})
