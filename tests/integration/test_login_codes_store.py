"""Sign-in records on both stores: tries on a mailed code counted exactly under concurrency, sessions'
last use written at most once a minute, sessions of older releases listed and ended, and a login code
used while a newer one is issued giving its session up."""

from __future__ import annotations

import asyncio

import pytest

from services.auth import accounts, user_sessions
from services.auth.data import login_codes, signin_codes
from shared.data import tokens
from shared.envelope import ApiError, Ret
from shared.ids import new_id, now_ms
from shared.sessions import authenticate, authenticate_session
from shared.store import Store


async def test_tries_on_a_code_are_counted_exactly(store: Store) -> None:
    expires = now_ms() + 60_000
    claims = await asyncio.gather(
        *(signin_codes.claim_try(store, "code-1", tries=5, expires_at=expires) for _ in range(20))
    )
    assert sorted(number for number in claims if number is not None) == [1, 2, 3, 4, 5]
    assert await signin_codes.claim_try(store, "code-1", tries=5, expires_at=expires) is None
    assert await signin_codes.claim_try(store, "code-2", tries=5, expires_at=expires) == 1
    # Tries go with their code's expiry.
    assert await signin_codes.delete_expired_before(store, expires + 1) == 6


async def test_last_use_is_written_at_most_once_a_minute(store: Store) -> None:
    user = await accounts.create_user(store, "used@example.com")
    token = await accounts.open_session(
        store, user.id, origin=accounts.FROM_EMAIL_CODE, token_ttl_seconds=600
    )
    first = await authenticate_session(store, token)
    await authenticate(store, token)
    assert (await tokens.get_by_token(store, token)).last_used == first.created_at  # type: ignore[union-attr]
    long_ago = now_ms() - 2 * tokens.LAST_USED_RESOLUTION_MS
    await store.collection(tokens.COLLECTION).update_one(
        {"_id": tokens.digest(token)}, {"$set": {"lastUsed": long_ago}}
    )
    before = now_ms()
    await authenticate(store, token)
    assert (await tokens.get_by_token(store, token)).last_used >= before  # type: ignore[union-attr]


async def test_sessions_of_older_releases_are_listed_and_ended(store: Store) -> None:
    user = await accounts.create_user(store, "old@example.com")
    now = now_ms()
    # A token as releases before sessions stored it: no session id, origin, client or address.
    await store.collection(tokens.COLLECTION).insert_one(
        {"_id": tokens.digest("old-token"), "userId": user.id, "createdAt": now, "expiresAt": now + 60_000}
    )
    current = await accounts.open_session(
        store, user.id, origin=accounts.FROM_EMAIL_CODE, token_ttl_seconds=60
    )
    session = await authenticate_session(store, current)
    listing = await user_sessions.list_sessions(store, session)
    assert listing["count"] == 2
    (old,) = [shown for shown in listing["sessions"] if not shown["current"]]
    assert old["client"] == "unknown client" and len(old["id"]) == 24
    await user_sessions.revoke(store, session, old["id"])
    with pytest.raises(ApiError) as refused:
        await authenticate(store, "old-token")
    assert refused.value.ret == Ret.TOKEN_WRONG
    with pytest.raises(ApiError) as unknown:
        await user_sessions.revoke(store, session, old["id"])
    assert unknown.value.ret == Ret.NOT_FOUND


async def test_a_code_used_while_a_newer_one_is_issued_signs_nobody_in(store: Store) -> None:
    user = await accounts.create_user(store, "race@example.com")
    issued = await accounts.issue_login_code_for(store, user.id, ttl_seconds=300)
    by_email = await accounts.open_session(
        store, user.id, origin=accounts.FROM_EMAIL_CODE, token_ttl_seconds=60
    )
    # The newer code is stored, but its issue has not yet ended the older code (the moment in between).
    await login_codes.insert(
        store,
        code="newer2",
        user_id=user.id,
        expires_at=now_ms() + 60_000,
        code_id=new_id(),
        created_at=now_ms(),
    )
    with pytest.raises(ApiError) as refused:
        await accounts.login(store, issued.code, token_ttl_seconds=60)
    assert refused.value.ret == Ret.CODE_INVALID
    assert await store.collection(tokens.COLLECTION).count({"userId": user.id}) == 1
    assert await authenticate(store, by_email) == user.id
    assert await accounts.login(store, "NEWER2", token_ttl_seconds=60)
