"""A user's sessions: list them, end one, end all the others. No HTTP: the store port only.

Each session is shown by its public id, the client it began from (a label, never the raw User-Agent),
the address, when it began and when it was last used (to the minute). A token is never shown again:
the listing holds nothing that signs in.
"""

from __future__ import annotations

from typing import Any

from shared.data import tokens
from shared.envelope import ApiError, Ret, invalid
from shared.ids import is_hex24, now_ms
from shared.store import Document, Store
from shared.timefmt import iso_ms


def _shown(doc: Document, current: tokens.Session) -> dict[str, Any]:
    created = int(doc.get("createdAt", 0))
    session_id = tokens.session_id_of(doc)
    return {
        "id": session_id,
        "client": doc.get("client") or "unknown client",
        "ip": doc.get("ip") or "",
        "createdAt": iso_ms(created),
        "lastUsed": iso_ms(int(doc.get("lastUsed", created))),
        "current": session_id == current.session_id,
    }


async def list_sessions(store: Store, current: tokens.Session) -> dict[str, Any]:
    now = now_ms()
    docs = await tokens.list_live_for_user(store, current.user_id, now)
    count = await tokens.count_live_for_user(store, current.user_id, now)
    return {"sessions": [_shown(doc, current) for doc in docs], "count": count}


async def revoke(store: Store, current: tokens.Session, session_id: str) -> None:
    """End one of the user's own sessions (the current one too); 203 for any other id."""
    if not is_hex24(session_id):
        raise invalid("a session id is 24 lowercase hex characters")
    if not await tokens.delete_session(store, current.user_id, session_id):
        raise ApiError(Ret.NOT_FOUND, "no such session")


async def revoke_others(store: Store, current: tokens.Session) -> int:
    """End every session of the user but the current one; how many ended."""
    return await tokens.delete_others(store, current.user_id, current.digest)
