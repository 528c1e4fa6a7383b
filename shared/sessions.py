"""The token check every `/open/` route makes, whichever service serves it."""

from __future__ import annotations

from shared.data import tokens
from shared.envelope import ApiError, Ret
from shared.ids import now_ms
from shared.store import Store

MAX_TOKEN_LENGTH = 128


async def authenticate(store: Store, token: str | None) -> str:
    """The user id behind a client API token, or the seed's 300 (empty) / 301 (wrong) / 302 (expired)."""
    if not token:
        raise ApiError(Ret.TOKEN_EMPTY, "token is empty")
    if len(token) > MAX_TOKEN_LENGTH:
        raise ApiError(Ret.TOKEN_WRONG, "token is wrong")
    session = await tokens.get_by_token(store, token)
    if session is None:
        raise ApiError(Ret.TOKEN_WRONG, "token is wrong")
    if session.expires_at <= now_ms():
        raise ApiError(Ret.TOKEN_EXPIRED, "token has expired")
    return session.user_id
