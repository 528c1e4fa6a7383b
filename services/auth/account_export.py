"""Everything iGot holds about an account, as one JSON document written piece by piece.

The document is the API envelope, `{"ret":0,"data":{...},"errMsg":"success"}`, whose `data` holds the
account, its push ways, its temporary links, its sessions and every inbox message in the client API's
shape, newest first. The inbox is read a page at a time (keyset paging on its (createdAt, _id) index, no
`skip`) and each page is written before the next is read, so however large the inbox, only one page sits
in memory. What only proves or signs something is left out: token and code digests, a webhook's signing
secret, an e-mail's unsubscribe token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from services.auth.data import users
from services.gateway.inbox_view import render
from shared.data import inbox, keys, messages, push_ways, tokens
from shared.http_json import dumps
from shared.ids import now_ms
from shared.logs import get_logger
from shared.store import Document, Store
from shared.store.scan import scan
from shared.timefmt import iso_ms

log = get_logger("igot.auth.export")

PAGE_SIZE = 200
# Fields of a push way that are credentials of iGot's own, not the user's data.
WAY_SECRETS = ("secret", "unsubscribe")

Write = Callable[[bytes], Awaitable[None]]


def _time(value: object) -> str | None:
    return iso_ms(value) if isinstance(value, int) and not isinstance(value, bool) else None


def account_of(user: Document) -> dict[str, Any]:
    return {
        "id": user["_id"],
        "email": user["email"],
        "key": user.get("key", ""),
        "status": users.status_of(user),
        "createdAt": _time(user.get("createdAt")),
    }


def push_ways_of(doc: Document | None) -> dict[str, Any]:
    shown: dict[str, Any] = {"orders": list((doc or {}).get("orders") or push_ways.WAYS)}
    for way in push_ways.WAYS:
        settings = (doc or {}).get(way)
        if isinstance(settings, dict):
            shown[way] = {name: value for name, value in settings.items() if name not in WAY_SECRETS}
        else:
            shown[way] = {"key": "", "status": push_ways.UNBOUND}
    return shown


def temporary_link_of(doc: Document, now: int) -> dict[str, Any]:
    status = doc.get("status", keys.ACTIVE)
    expires = doc.get("expiresAt")
    if status != keys.DELETED and isinstance(expires, int) and expires <= now:
        status = "expired"
    return {
        "key": doc["_id"],
        "name": doc.get("name", ""),
        "status": status,
        "createdAt": _time(doc.get("createdAt")),
        "expireAt": _time(expires),
    }


def session_of(doc: Document) -> dict[str, Any]:
    """A session without its token digest: the digest is what signs in, the rest describes it."""
    shown: dict[str, Any] = {"id": tokens.session_id_of(doc)}
    for name in ("client", "ip", "origin"):
        if isinstance(doc.get(name), str):
            shown[name] = doc[name]
    for name in ("createdAt", "lastUsed", "expiresAt"):
        shown[name] = _time(doc.get(name))
    return shown


async def inbox_pages(
    store: Store, user_id: str, *, page_size: int = PAGE_SIZE
) -> AsyncIterator[list[dict[str, Any]]]:
    """The user's inbox in the client API's shape, newest first, a page at a time."""
    entries = store.collection(inbox.COLLECTION)
    mine: dict[str, Any] = {"userId": user_id}
    page_filter: dict[str, Any] = mine
    while True:
        page = await entries.find(page_filter, sort=[("createdAt", -1), ("_id", -1)], limit=page_size)
        if not page:
            return
        found = await messages.get_many_by_id(store, (entry["messageId"] for entry in page))
        shown = [render(entry, found[entry["messageId"]]) for entry in page if entry["messageId"] in found]
        if len(shown) < len(page):
            log.warning("inbox entries without their message left out", count=len(page) - len(shown))
        yield shown
        if len(page) < page_size:
            return
        last = page[-1]
        older = {
            "$or": [
                {"createdAt": {"$lt": last["createdAt"]}},
                {"createdAt": last["createdAt"], "_id": {"$lt": last["_id"]}},
            ]
        }
        page_filter = {"$and": [mine, older]}


async def write_export(store: Store, user: Document, write: Write) -> int:
    """Write the whole document; returns how many messages it holds."""
    user_id, now = user["_id"], now_ms()
    links: list[dict[str, Any]] = []
    async for page in scan(store.collection(keys.COLLECTION), {"userId": user_id, "kind": keys.TEMPORARY}):
        links.extend(temporary_link_of(doc, now) for doc in page)
    sessions = [
        session_of(doc)
        for doc in await store.collection(tokens.COLLECTION).find(
            {"userId": user_id}, sort=[("createdAt", 1)]
        )
    ]
    head = {
        "account": account_of(user),
        "pushWays": push_ways_of(await push_ways.get_for_user(store, user_id)),
        "temporaryLinks": links,
        "sessions": sessions,
    }
    # The head without its closing brace, then the messages array, then the closings.
    await write(('{"ret":0,"data":' + dumps(head)[:-1] + ',"messages":[').encode())
    count = 0
    async for page in inbox_pages(store, user_id):
        if page:
            text = dumps(page)[1:-1]
            await write((("," if count else "") + text).encode())
            count += len(page)
    await write(b'],"exportedAt":' + dumps(iso_ms(now)).encode() + b'},"errMsg":"success"}')
    return count
