"""Push ways of a user (owned by auth, which binds and verifies them; the dispatcher reads them).

One document per user: `{_id: <user id>, orders: ["bark", "email", "wechat", "webhook"], bark: {key:
<device key>, server, status}, email: {key: <address>, unsubscribe, status}, wechat: {key: <open id>,
status}, webhook: {key: <url>, secret, status}}`; `status` 0 unbound, 1 bound (not verified yet), 2
verified. `orders` is the user's preference: strong messages try the verified ways in that order. A way's
`key` is its target; Bark's `server` is where its device key is pushed to (the user's own Bark server or
`IGOT_BARK_SERVER`), the webhook's `secret` signs every request, the e-mail's `unsubscribe` token makes
its unsubscribe link.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.store import Document, DuplicateKeyError, IndexSpec, Store

COLLECTION = "push_ways"
# Read by `_id` (the user id), by the e-mail's unsubscribe token when its link is followed, and by the
# WeChat open id when its follower unfollows the official account.
INDEXES: tuple[IndexSpec, ...] = (
    IndexSpec(COLLECTION, (("email.unsubscribe", 1),)),
    IndexSpec(COLLECTION, (("wechat.key", 1),)),
)
WAYS = ("bark", "email", "wechat", "webhook")
UNBOUND, BOUND, VERIFIED = 0, 1, 2


@dataclass(frozen=True)
class WayTarget:
    """Where one way delivers: its key, the secret it signs with (webhooks), its server (Bark)."""

    way: str
    key: str
    secret: str | None = None
    server: str | None = None
    unsubscribe: str | None = None  # the e-mail way's unsubscribe token


async def get_for_user(store: Store, user_id: str) -> Document | None:
    return await store.collection(COLLECTION).find_one({"_id": user_id})


async def get_many_for_users(store: Store, user_ids: list[str]) -> dict[str, Document]:
    """The push ways of these users (one query for a page of a group link's subscribers), by user id."""
    if not user_ids:
        return {}
    docs = await store.collection(COLLECTION).find({"_id": {"$in": sorted(set(user_ids))}})
    return {doc["_id"]: doc for doc in docs}


def target_of(doc: Document | None, way: str, *, min_status: int = VERIFIED) -> WayTarget | None:
    """The way's target when it is verified (with `min_status=BOUND`: bound at least), else None."""
    if doc is None:
        return None
    settings = doc.get(way)
    if not isinstance(settings, dict) or not isinstance(settings.get("status"), int):
        return None
    if settings["status"] < min_status:
        return None
    key = settings.get("key")
    if not isinstance(key, str) or not key:
        return None
    secret, server = settings.get("secret"), settings.get("server")
    return WayTarget(
        way=way,
        key=key,
        secret=secret if isinstance(secret, str) else None,
        server=server if isinstance(server, str) else None,
        unsubscribe=settings["unsubscribe"] if isinstance(settings.get("unsubscribe"), str) else None,
    )


def verified_in_order(doc: Document | None) -> list[WayTarget]:
    """The verified ways in the user's order; a way named twice counts once."""
    if doc is None:
        return []
    ordered: list[WayTarget] = []
    for way in dict.fromkeys(doc.get("orders") or WAYS):
        target = target_of(doc, way) if way in WAYS else None
        if target is not None:
            ordered.append(target)
    return ordered


# Writes. One user's document is written only by that user's own requests (and the links sent to them),
# so each write is one single-document update that sets a whole way or one field of it.


async def set_orders(store: Store, user_id: str, orders: list[str]) -> None:
    await store.collection(COLLECTION).update_one({"_id": user_id}, {"$set": {"orders": orders}}, upsert=True)


async def bind(store: Store, user_id: str, way: str, settings: dict[str, str]) -> None:
    """The way bound, not verified yet: its whole sub-document replaced, so nothing of an old key stays."""
    await store.collection(COLLECTION).update_one(
        {"_id": user_id}, {"$set": {way: {**settings, "status": BOUND}}}, upsert=True
    )


async def unbind(store: Store, user_id: str, way: str) -> None:
    """Unbound: the key and whatever came with it (secret, server, unsubscribe token) removed."""
    await store.collection(COLLECTION).update_one(
        {"_id": user_id}, {"$set": {way: {"key": "", "status": UNBOUND}}}
    )


async def mark_verified(store: Store, user_id: str, way: str, key: str) -> bool:
    """Verified, if the way is still bound to `key` and not verified yet; False otherwise."""
    matched = await store.collection(COLLECTION).update_one(
        {"_id": user_id, f"{way}.key": key, f"{way}.status": BOUND}, {"$set": {f"{way}.status": VERIFIED}}
    )
    return matched == 1


async def get_by_unsubscribe_token(store: Store, token: str) -> Document | None:
    return await store.collection(COLLECTION).find_one({"email.unsubscribe": token})


# WeChat is bound by scanning a QR code in WeChat: the scan itself proves the open id, so the way is
# verified at once. Written by the account's callback, which WeChat calls for the follower.


async def bind_wechat_verified(store: Store, user_id: str, openid: str) -> bool:
    """WeChat verified with `openid`, if the user's WeChat way is unbound; False otherwise."""
    way = {"wechat": {"key": openid, "status": VERIFIED}}
    unbound = {"$or": [{"wechat.status": UNBOUND}, {"wechat.status": {"$exists": False}}]}
    matched = await store.collection(COLLECTION).update_one({"_id": user_id, **unbound}, {"$set": way})
    if matched:
        return True
    if await get_for_user(store, user_id) is not None:
        return False  # bound already (another scan, or the user's document says so)
    try:
        await store.collection(COLLECTION).insert_one({"_id": user_id, **way})
    except DuplicateKeyError:
        return False
    return True


async def unbind_wechat_by_openid(store: Store, openid: str) -> int:
    """Every WeChat way bound to `openid` unbound (its follower left the account); how many."""
    return await store.collection(COLLECTION).update_many(
        {"wechat.key": openid, "wechat.status": {"$gt": UNBOUND}},
        {"$set": {"wechat": {"key": "", "status": UNBOUND}}},
    )
