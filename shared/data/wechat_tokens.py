"""The WeChat access token of the deployment, cached for every process, and who renews it.

`wechat_tokens`: `{_id: "<appid>:<generation>", appid, generation, token, expiresAt, fetchedAt}`, one
document per token ever fetched, written once: generation `n + 1` is written only by the process that
claimed the renewal of generation `n` (0: no token yet), and the newest generation is the token in force.

`wechat_token_claims`: `{_id: "<appid>:<generation>", appid, claimedAt}`: who renews generation `n`. The
claim is an insert with a unique `_id`, so of several processes that find the token due at the same
moment exactly one calls WeChat; conditional updates would not settle it on the MongoDB-compatible test
server, which applies them as read-then-write. A claim whose holder died is taken over once it is older
than the renewal can take (`take_over_stale_claim` deletes it, then the claim is inserted again).
"""

from __future__ import annotations

from shared.store import Document, DuplicateKeyError, IndexSpec, Store

TOKENS = "wechat_tokens"
CLAIMS = "wechat_token_claims"
INDEXES: tuple[IndexSpec, ...] = (
    IndexSpec(TOKENS, (("appid", 1), ("generation", 1))),
    IndexSpec(CLAIMS, (("appid", 1), ("claimedAt", 1))),
)


def _id(appid: str, generation: int) -> str:
    return f"{appid}:{generation}"


async def get_latest(store: Store, appid: str) -> Document | None:
    return await store.collection(TOKENS).find_one({"appid": appid}, sort=[("generation", -1)])


async def claim_renewal(store: Store, appid: str, generation: int, *, now: int) -> bool:
    """True for the one caller that renews `generation`; False when another one claimed it."""
    try:
        await store.collection(CLAIMS).insert_one(
            {"_id": _id(appid, generation), "appid": appid, "claimedAt": now}
        )
    except DuplicateKeyError:
        return False
    return True


async def release_claim(store: Store, appid: str, generation: int) -> None:
    """The renewal failed: the next caller may try."""
    await store.collection(CLAIMS).delete_one({"_id": _id(appid, generation)})


async def take_over_stale_claim(store: Store, appid: str, generation: int, *, claimed_before: int) -> bool:
    """Remove a claim older than `claimed_before` (its holder is gone); True when one was removed."""
    removed = await store.collection(CLAIMS).find_one_and_delete(
        {"_id": _id(appid, generation), "claimedAt": {"$lt": claimed_before}}
    )
    return removed is not None


async def save(
    store: Store, appid: str, generation: int, *, token: str, expires_at: int, now: int
) -> Document | None:
    """Store generation `generation`; None when it exists already (a stale claim's holder came back)."""
    doc = {
        "_id": _id(appid, generation),
        "appid": appid,
        "generation": generation,
        "token": token,
        "expiresAt": expires_at,
        "fetchedAt": now,
    }
    try:
        await store.collection(TOKENS).insert_one(doc)
    except DuplicateKeyError:
        return None
    return doc


async def delete_before(store: Store, appid: str, generation: int, *, claims_before: int) -> None:
    """Tokens older than `generation`, and claims older than `claims_before` (kept a while, so that a
    process that read an older generation just before cannot claim its renewal again)."""
    await store.collection(TOKENS).delete_many({"appid": appid, "generation": {"$lt": generation}})
    await store.collection(CLAIMS).delete_many({"appid": appid, "claimedAt": {"$lt": claims_before}})
