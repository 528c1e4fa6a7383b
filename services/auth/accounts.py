"""Accounts and sign-in: users, login codes and sessions. No HTTP, no driver: the store port only.

A login code is 6 letters and digits (the desktop client's code box has six cells and takes [0-9a-zA-Z];
sign-in lower-cases what it is given, so 5-character codes of older releases still sign in). A new code
ends the user's previous code and every session begun with it; sessions begun otherwise (e-mail, a
sign-in link) are left alone.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from services.auth.data import login_codes, users
from shared.data import keys, tokens
from shared.envelope import ApiError, Ret
from shared.ids import new_id, new_push_key, new_token, now_ms
from shared.store import Document, DuplicateKeyError, Store
from shared.timefmt import iso_ms

# Easy to read aloud and to type: no 0/o, 1/l/i.
CODE_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
CODE_LENGTH = 6
MAX_CODE_LENGTH = 32
# How a session began (`origin` of its token).
FROM_LOGIN_CODE, FROM_EMAIL_CODE, FROM_EMAIL_LINK = "login-code", "email", "link"
# Sessions begun with a code of a release that gave codes no id remember this instead.
LEGACY_CODE_ID = "legacy"
# A plain address: no display name, comments, quoting or control characters, nothing a mail header
# would read as structure; the domain is dot-separated labels (international ones in their xn-- form).
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z][A-Za-z0-9-]{0,61}[A-Za-z0-9]$"
)
MAX_EMAIL_LENGTH = 254


@dataclass(frozen=True)
class NewUser:
    id: str
    key: str
    email: str


@dataclass(frozen=True)
class ClientInfo:
    """Who opens a session: a short label made from the User-Agent, and the client's address."""

    label: str = ""
    ip: str = ""


@dataclass(frozen=True)
class IssuedCode:
    code: str
    expires_at: int  # epoch milliseconds


def normalise_email(email: object) -> str:
    if not isinstance(email, str) or not email.strip():
        raise ApiError(Ret.INVALID, "email is required: an e-mail address")
    if len(email) > MAX_EMAIL_LENGTH + 32:  # room for surrounding blanks, not for a payload
        raise ApiError(Ret.INVALID, "not an e-mail address: too long")
    email = email.strip().lower()
    if not _EMAIL.fullmatch(email):
        raise ApiError(Ret.INVALID, f"not an e-mail address: {email[:64]!r}")
    return email


def can_sign_in(user: Document | None) -> bool:
    """Disabled accounts, and accounts being deleted, cannot sign in."""
    return user is not None and users.status_of(user) == users.ACTIVE


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


async def open_session(
    store: Store,
    user_id: str,
    *,
    origin: str,
    token_ttl_seconds: int,
    client: ClientInfo | None = None,
    login_code_id: str | None = None,
) -> str:
    """A new token for the user (only its digest is stored)."""
    client = client or ClientInfo()
    token, now = new_token(), now_ms()
    await tokens.insert(
        store,
        token=token,
        user_id=user_id,
        created_at=now,
        expires_at=now + token_ttl_seconds * 1000,
        origin=origin,
        login_code_id=login_code_id,
        client=client.label,
        ip=client.ip,
    )
    return token


async def issue_login_code(store: Store, email: str, *, ttl_seconds: int) -> str:
    """A new code for the user of `email` (`igot user login-code`); see `issue_login_code_for`."""
    user = await users.get_by_email(store, normalise_email(email))
    if user is None:
        raise ApiError(Ret.NOT_FOUND, "no such user")
    return (await issue_login_code_for(store, user["_id"], ttl_seconds=ttl_seconds)).code


async def issue_login_code_for(store: Store, user_id: str, *, ttl_seconds: int) -> IssuedCode:
    """A new code for the user; the previous code and every session begun with it stop working.

    The new code is stored first, so a sign-in with the old code that races this finds a newer code
    and gives its session up (`login`).
    """
    code_id, now = new_id(), now_ms()
    expires = now + ttl_seconds * 1000
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        try:
            await login_codes.insert(
                store, code=code, user_id=user_id, expires_at=expires, code_id=code_id, created_at=now
            )
        except DuplicateKeyError:
            continue
        break
    await login_codes.delete_for_user_except(store, user_id, code_id)
    await tokens.delete_from_login_codes_except(store, user_id, code_id)
    return IssuedCode(code=code, expires_at=expires)


async def login(
    store: Store, code: object, *, token_ttl_seconds: int, client: ClientInfo | None = None
) -> str:
    """A session for a login code, which signs in once; 304 for no code, 303 for any wrong one."""
    if code is None or code == "":
        raise ApiError(Ret.CODE_EMPTY, "login failed: code is empty")
    if not isinstance(code, str) or len(code) > MAX_CODE_LENGTH:
        raise ApiError(Ret.CODE_INVALID, "login failed: code is invalid")
    taken = await login_codes.take(store, code.strip().lower())
    if taken is None or taken["expiresAt"] <= now_ms():
        raise ApiError(Ret.CODE_INVALID, "login failed: code is invalid or expired")
    user_id = taken["userId"]
    if not can_sign_in(await users.get_by_id(store, user_id)):
        raise ApiError(Ret.CODE_INVALID, "login failed: code is invalid or expired")
    code_id = taken.get("codeId") or LEGACY_CODE_ID
    token = await open_session(
        store,
        user_id,
        origin=FROM_LOGIN_CODE,
        token_ttl_seconds=token_ttl_seconds,
        client=client,
        login_code_id=code_id,
    )
    if code_id != LEGACY_CODE_ID and await login_codes.newer_exists(
        store, user_id, code_id, taken["createdAt"]
    ):
        # A newer code was issued while this one was being used: its issue ended this code's sessions,
        # possibly before this one was written.
        await tokens.delete_by_token(store, token)
        raise ApiError(Ret.CODE_INVALID, "login failed: code is invalid or expired")
    return token


async def overview(store: Store, user_id: str) -> dict[str, object]:
    """`GET /open/user/`: the account as its owner sees it."""
    user = await users.get_by_id(store, user_id)
    if user is None:
        raise ApiError(Ret.NOT_FOUND, "no such user")
    return {
        "id": user["_id"],
        "email": user["email"],
        "key": user["key"],
        "createdAt": iso_ms(user["createdAt"]),
    }
