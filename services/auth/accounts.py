"""Accounts and sign-in: users, login codes and tokens. No HTTP, no driver: the store port only."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from services.auth.data import login_codes, users
from shared.data import keys, tokens
from shared.envelope import ApiError, Ret
from shared.ids import new_id, new_push_key, new_token, now_ms
from shared.store import DuplicateKeyError, Store

# Easy to read aloud and to type: no 0/o, 1/l/i.
CODE_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
CODE_LENGTH = 5
# A plain address: no display name, comments, quoting or control characters, nothing a mail header
# would read as structure; the domain is dot-separated labels (international ones in their xn-- form).
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z][A-Za-z0-9-]{0,61}[A-Za-z0-9]$"
)


@dataclass(frozen=True)
class NewUser:
    id: str
    key: str
    email: str


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if not _EMAIL.fullmatch(email):
        raise ApiError(Ret.INVALID, f"not an e-mail address: {email!r}")
    return email


async def create_user(store: Store, email: str) -> NewUser:
    email = normalise_email(email)
    user_id, key, created = new_id(), new_push_key(), now_ms()
    try:
        await users.insert(store, user_id=user_id, email=email, key=key, created_at=created)
    except DuplicateKeyError:
        raise ApiError(Ret.WRONG_STATE, f"a user with e-mail {email} exists") from None
    # Written after the user so that a key never points at a missing user; a crash in between leaves a
    # user without a key, which `create_user` refuses to repeat but `igot user show` reveals.
    await keys.insert(store, value=key, user_id=user_id, kind="fixed", created_at=created)
    return NewUser(id=user_id, key=key, email=email)


async def issue_login_code(store: Store, email: str, *, ttl_seconds: int) -> str:
    """A new code for the user; the previous code and every token issued from it stop working."""
    user = await users.get_by_email(store, normalise_email(email))
    if user is None:
        raise ApiError(Ret.NOT_FOUND, "no such user")
    await login_codes.delete_for_user(store, user["_id"])
    await tokens.delete_for_user(store, user["_id"])
    expires = now_ms() + ttl_seconds * 1000
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        try:
            await login_codes.insert(store, code=code, user_id=user["_id"], expires_at=expires)
        except DuplicateKeyError:
            continue
        return code


async def login(store: Store, code: object, *, token_ttl_seconds: int) -> str:
    if code is None or code == "":
        raise ApiError(Ret.CODE_EMPTY, "login failed: code is empty")
    if not isinstance(code, str) or len(code) > 32:
        raise ApiError(Ret.CODE_INVALID, "login failed: code is invalid")
    taken = await login_codes.take(store, code.strip().lower())
    now = now_ms()
    if taken is None or taken["expiresAt"] <= now:
        raise ApiError(Ret.CODE_INVALID, "login failed: code is invalid or expired")
    token = new_token()
    await tokens.insert(
        store, token=token, user_id=taken["userId"], created_at=now, expires_at=now + token_ttl_seconds * 1000
    )
    return token
