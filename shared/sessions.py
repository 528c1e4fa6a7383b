"""The token check every `/open/` route makes, whichever service serves it."""

from __future__ import annotations

from shared.data import tokens
from shared.envelope import ApiError, Ret
from shared.ids import now_ms
from shared.store import Store

MAX_TOKEN_LENGTH = 128


async def authenticate_session(store: Store, token: str | None) -> tokens.Session:
    """The session behind a client API token, or the seed's 300 (empty) / 301 (wrong) / 302 (expired).

    A use is recorded as the session's `lastUsed`, at most once a minute (see `shared.data.tokens`).
    """
    if not token:
        raise ApiError(Ret.TOKEN_EMPTY, "token is empty")
    if len(token) > MAX_TOKEN_LENGTH:
        raise ApiError(Ret.TOKEN_WRONG, "token is wrong")
    session = await tokens.get_by_token(store, token)
    if session is None:
        raise ApiError(Ret.TOKEN_WRONG, "token is wrong")
    now = now_ms()
    if session.expires_at <= now:
        raise ApiError(Ret.TOKEN_EXPIRED, "token has expired")
    await tokens.touch(store, session, now)
    return session


async def authenticate(store: Store, token: str | None) -> str:
    """The user id behind a client API token (refusals as `authenticate_session`)."""
    return (await authenticate_session(store, token)).user_id
