"""E-mailed sign-in codes and the tries made on them.

`signin_codes`: `{_id: <code id>, email, codeDigest, linkDigest, createdAt, expiresAt}`, one per mail
sent. Only digests are stored: the 6-digit code's SHA-256 together with the address (so one table of
digests does not serve every address) and the link token's SHA-256. A record is used once, by the code
or by the link, whichever comes first: using it deletes it (`find_one_and_delete`, of which only one
caller gets the record). A newer code for the address replaces the older ones. Expired records stay a
day, so that a late click on a link hears "expired" rather than "unknown".

`signin_tries`: `{_id: "<code id>:<n>", codeId, expiresAt}`, one per try on a code. A try claims the
next free number by inserting it; two processes can never claim the same number, so a code gets
exactly its number of tries however many verify it at once (a counter incremented with `$inc` can lose
counts on MongoDB-compatible servers that apply updates as read-then-write).
"""

from __future__ import annotations

import hashlib

from shared.store import Document, DuplicateKeyError, IndexSpec, Store

COLLECTION = "signin_codes"
TRIES = "signin_tries"
INDEXES = (
    IndexSpec(COLLECTION, (("email", 1), ("createdAt", 1))),
    IndexSpec(COLLECTION, (("linkDigest", 1),)),
    IndexSpec(COLLECTION, (("expiresAt", 1),)),
    IndexSpec(TRIES, (("codeId", 1),)),
    IndexSpec(TRIES, (("expiresAt", 1),)),
)
EXPIRED_KEPT_MS = 24 * 3600 * 1000


def code_digest(email: str, code: str) -> str:
    return hashlib.sha256(f"{email}\n{code}".encode()).hexdigest()


def link_digest(link_token: str) -> str:
    return hashlib.sha256(link_token.encode()).hexdigest()


async def insert(
    store: Store,
    *,
    code_id: str,
    email: str,
    code: str,
    link_token: str,
    created_at: int,
    expires_at: int,
) -> None:
    await store.collection(COLLECTION).insert_one(
        {
            "_id": code_id,
            "email": email,
            "codeDigest": code_digest(email, code),
            "linkDigest": link_digest(link_token),
            "createdAt": created_at,
            "expiresAt": expires_at,
        }
    )


async def delete_for_email_except(store: Store, email: str, keep_code_id: str) -> int:
    """Older codes of the address stop working: a new code replaces them."""
    return await store.collection(COLLECTION).delete_many({"email": email, "_id": {"$ne": keep_code_id}})


async def newest_for_email(store: Store, email: str) -> Document | None:
    return await store.collection(COLLECTION).find_one({"email": email}, sort=[("createdAt", -1)])


async def get_by_link(store: Store, link_token: str) -> Document | None:
    return await store.collection(COLLECTION).find_one({"linkDigest": link_digest(link_token)})


async def take(store: Store, code_id: str) -> Document | None:
    """Remove and return the record: the one caller that gets it signs in."""
    return await store.collection(COLLECTION).find_one_and_delete({"_id": code_id})


async def delete(store: Store, code_id: str) -> int:
    return await store.collection(COLLECTION).delete_one({"_id": code_id})


async def claim_try(store: Store, code_id: str, *, tries: int, expires_at: int) -> int | None:
    """The number (1 to `tries`) of the try this caller holds on the code; None when all are used."""
    collection = store.collection(TRIES)
    taken = await collection.count({"codeId": code_id})
    for number in range(taken + 1, tries + 1):
        try:
            await collection.insert_one(
                {"_id": f"{code_id}:{number}", "codeId": code_id, "expiresAt": expires_at}
            )
        except DuplicateKeyError:
            continue  # another try took this number meanwhile
        return number
    return None


async def delete_expired_before(store: Store, cutoff_ms: int) -> int:
    """Tries of codes expired before `cutoff_ms`, and codes expired a day before it."""
    removed = await store.collection(TRIES).delete_many({"expiresAt": {"$lt": cutoff_ms}})
    return removed + await store.collection(COLLECTION).delete_many(
        {"expiresAt": {"$lt": cutoff_ms - EXPIRED_KEPT_MS}}
    )
