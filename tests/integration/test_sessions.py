"""The token check every `/open/` route makes, on both stores: empty, wrong, expired, valid."""

from __future__ import annotations

import pytest

from shared.data import tokens
from shared.envelope import ApiError, Ret
from shared.ids import now_ms
from shared.sessions import authenticate
from shared.store import Store


async def refused(store: Store, token: str | None) -> Ret:
    with pytest.raises(ApiError) as error:
        await authenticate(store, token)
    return error.value.ret


async def test_token_states(store: Store) -> None:
    now = now_ms()
    await tokens.insert(store, token="live", user_id="u1", created_at=now, expires_at=now + 60_000)
    await tokens.insert(store, token="old", user_id="u1", created_at=now - 10, expires_at=now - 1)
    assert await authenticate(store, "live") == "u1"
    assert await refused(store, None) == Ret.TOKEN_EMPTY
    assert await refused(store, "") == Ret.TOKEN_EMPTY
    assert await refused(store, "nope") == Ret.TOKEN_WRONG
    assert await refused(store, "x" * 1000) == Ret.TOKEN_WRONG
    assert await refused(store, "old") == Ret.TOKEN_EXPIRED
    # Long expired tokens are swept; then they are simply wrong.
    assert await tokens.delete_expired_before(store, now + tokens.EXPIRED_GRACE_MS + 1) == 1
    assert await refused(store, "old") == Ret.TOKEN_WRONG
    assert await authenticate(store, "live") == "u1"
