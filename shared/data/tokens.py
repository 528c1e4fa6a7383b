"""Client API tokens, one per session (owned by auth; every service with `/open/` routes checks them).

A token document: `{_id: sha256(token), userId, sessionId, origin, loginCodeId?, client, ip, createdAt,
lastUsed, expiresAt}`. Only a SHA-256 of the token is stored, so a leaked database does not leak
sessions. `sessionId` is the session's public name (listed, revoked by it); it reveals nothing of the
token. `origin` says how the session began (`login-code`, `email`, `link`); a session begun with a login
code remembers that code's `loginCodeId`, so that issuing the next code ends exactly those sessions.
`client` is a short label made from the User-Agent and `ip` the address the session began from.

`lastUsed` is written at most once a minute per token (`LAST_USED_RESOLUTION_MS`): a write on every
request would double the store's work for a figure nobody needs to the second. Expired tokens are kept
for a while so that a client hears "expired" (302) rather than "wrong" (301); the sweeper removes them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from shared.ids import new_id
from shared.store import Document, IndexSpec, Store

COLLECTION = "tokens"
INDEXES = (
    IndexSpec(COLLECTION, (("userId", 1),)),
    IndexSpec(COLLECTION, (("expiresAt", 1),)),
    IndexSpec(COLLECTION, (("userId", 1), ("sessionId", 1))),
)
# How long an expired token is still recognised as "expired" before it is forgotten.
EXPIRED_GRACE_MS = 7 * 24 * 3600 * 1000
LAST_USED_RESOLUTION_MS = 60_000
# The most sessions one listing shows, newest first (tokens live hours; a script signing in in a loop
# must not make the listing unbounded).
MAX_LISTED = 100


@dataclass(frozen=True)
class Session:
    user_id: str
    expires_at: int
    session_id: str = ""
    digest: str = ""
    created_at: int = 0
    last_used: int = 0


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def session_id_of(doc: Document) -> str:
    """The session's public id; tokens of releases before sessions had one get one derived from the
    digest (a hash of it, so the listing never shows the digest itself)."""
    stored = doc.get("sessionId")
    if isinstance(stored, str) and stored:
        return stored
    return hashlib.sha256(f"session:{doc['_id']}".encode()).hexdigest()[:24]


def _session(doc: Document) -> Session:
    created = int(doc.get("createdAt", 0))
    return Session(
        user_id=doc["userId"],
        expires_at=doc["expiresAt"],
        session_id=session_id_of(doc),
        digest=doc["_id"],
        created_at=created,
        last_used=int(doc.get("lastUsed", created)),
    )


async def insert(
    store: Store,
    *,
    token: str,
    user_id: str,
    created_at: int,
    expires_at: int,
    origin: str = "",
    login_code_id: str | None = None,
    client: str = "",
    ip: str = "",
) -> str:
    """Store the session of `token`; returns its session id."""
    session_id = new_id()
    doc: Document = {
        "_id": digest(token),
        "userId": user_id,
        "sessionId": session_id,
        "createdAt": created_at,
        "lastUsed": created_at,
        "expiresAt": expires_at,
        "client": client,
        "ip": ip,
    }
    if origin:
        doc["origin"] = origin
    if login_code_id is not None:
        doc["loginCodeId"] = login_code_id
    await store.collection(COLLECTION).insert_one(doc)
    return session_id


async def get_by_token(store: Store, token: str) -> Session | None:
    doc = await store.collection(COLLECTION).find_one({"_id": digest(token)})
    return None if doc is None else _session(doc)


async def touch(store: Store, session: Session, now_ms: int) -> None:
    """Record a use, when the last one recorded is a minute old or more."""
    if now_ms - session.last_used >= LAST_USED_RESOLUTION_MS:
        await store.collection(COLLECTION).update_one({"_id": session.digest}, {"$set": {"lastUsed": now_ms}})


async def list_live_for_user(store: Store, user_id: str, now_ms: int) -> list[Document]:
    """The user's unexpired sessions, newest first, at most `MAX_LISTED`."""
    return await store.collection(COLLECTION).find(
        {"userId": user_id, "expiresAt": {"$gt": now_ms}},
        sort=[("createdAt", -1)],
        limit=MAX_LISTED,
        projection=["sessionId", "createdAt", "lastUsed", "client", "ip", "expiresAt"],
    )


async def count_live_for_user(store: Store, user_id: str, now_ms: int) -> int:
    return await store.collection(COLLECTION).count({"userId": user_id, "expiresAt": {"$gt": now_ms}})


async def delete_by_token(store: Store, token: str) -> int:
    return await store.collection(COLLECTION).delete_one({"_id": digest(token)})


async def delete_session(store: Store, user_id: str, session_id: str) -> int:
    """End one of the user's sessions by its public id; returns how many tokens went (0 or 1)."""
    tokens = store.collection(COLLECTION)
    removed = await tokens.delete_many({"userId": user_id, "sessionId": session_id})
    if removed:
        return removed
    # A session of an older release: its id is derived, so find it among the user's own tokens.
    for doc in await tokens.find({"userId": user_id, "sessionId": None}, projection=["userId"]):
        if session_id_of(doc) == session_id:
            return await tokens.delete_one({"_id": doc["_id"]})
    return 0


async def delete_others(store: Store, user_id: str, keep_digest: str) -> int:
    """End every session of the user but the one of `keep_digest`; returns how many."""
    return await store.collection(COLLECTION).delete_many({"userId": user_id, "_id": {"$ne": keep_digest}})


async def delete_from_login_codes_except(store: Store, user_id: str, keep_code_id: str) -> int:
    """End the user's sessions begun with any login code but `keep_code_id`."""
    return await store.collection(COLLECTION).delete_many(
        {"userId": user_id, "loginCodeId": {"$exists": True, "$ne": keep_code_id}}
    )


async def delete_from_login_code(store: Store, user_id: str, code_id: str) -> int:
    return await store.collection(COLLECTION).delete_many({"userId": user_id, "loginCodeId": code_id})


async def delete_for_user(store: Store, user_id: str) -> int:
    return await store.collection(COLLECTION).delete_many({"userId": user_id})


async def delete_expired_before(store: Store, cutoff_ms: int) -> int:
    return await store.collection(COLLECTION).delete_many(
        {"expiresAt": {"$lt": cutoff_ms - EXPIRED_GRACE_MS}}
    )
