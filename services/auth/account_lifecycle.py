"""The life of an account after sign-up: disabled and enabled by an operator, deleted by its owner
(confirmed by a code mailed to the account) or by an operator. No HTTP, no driver: the store and bus ports.

An account's state lives on the user (`users.status`) and is copied onto each of its keys
(`keys.ownerStatus`), so that the gateway refuses a disabled account's pushes (204 / HTTP 403) and a
deleted account's (204 / HTTP 410) with the one read it makes per key anyway; an announcement on the bus
makes the gateways drop the keys they cache at once. Changing the state also ends every session and
login code. A deletion only marks the account: the purge (`services.auth.purge`) removes the data later.

Each change writes the user first, then the keys, then removes sessions: a crash in between leaves a
state the next change, or the purge, completes; never keys that work for an account that should not.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from services.auth.account_mail import request_account_mail
from services.auth.data import deletion_codes, login_codes, users
from services.auth.key_events import announce_keys_changed
from shared.bus import Bus
from shared.data import keys, tokens
from shared.envelope import ApiError, Ret, invalid, not_found, rate_limited
from shared.ids import is_hex24, now_ms
from shared.logs import get_logger
from shared.store import Document, Store

log = get_logger("igot.auth.lifecycle")

CODE_DIGITS = 6
MAX_TRIES = 5
DAY_MS = 24 * 3600 * 1000
# A key's owner state for each account state.
OWNER_STATUS = {users.ACTIVE: "active", users.DISABLED: "disabled", users.DELETING: "deleted"}


@dataclass(frozen=True)
class DeletionPolicy:
    code_ttl_seconds: int
    mail_interval_seconds: int
    mails_per_day: int


async def find_user(store: Store, who: str) -> Document:
    """The user named by an e-mail address or an id, or ret 203."""
    who = who.strip()
    user = await users.get_by_id(store, who) if is_hex24(who) else None
    if user is None and "@" in who:
        user = await users.get_by_email(store, who.lower())
    if user is None:
        raise not_found(f"no such user: {who}")
    return user


async def _change_state(store: Store, bus: Bus, user: Document, status: str) -> None:
    user_id = user["_id"]
    await users.set_status(store, user_id, status, at_ms=now_ms())
    await keys.set_owner_status(store, user_id, OWNER_STATUS[status])
    if status != users.ACTIVE:
        await tokens.delete_for_user(store, user_id)
        await login_codes.delete_for_user(store, user_id)
    await announce_keys_changed(bus, user_id=user_id)
    log.info("account state changed", user_id=user_id, status=status)


async def disable(store: Store, bus: Bus, user: Document) -> bool:
    """Disable the account: False when it was disabled already; ret 208 while it is being deleted."""
    state = users.status_of(user)
    if state == users.DELETING:
        raise ApiError(Ret.WRONG_STATE, "the account is being deleted")
    # Repeated on a disabled account all the same: it completes a change a crash may have interrupted.
    await _change_state(store, bus, user, users.DISABLED)
    return state != users.DISABLED


async def enable(store: Store, bus: Bus, user: Document) -> bool:
    """Enable a disabled account: False when it was active already; ret 208 while it is being deleted."""
    state = users.status_of(user)
    if state == users.DELETING:
        raise ApiError(Ret.WRONG_STATE, "the account is being deleted")
    await _change_state(store, bus, user, users.ACTIVE)
    return state == users.DISABLED


async def mark_deleting(store: Store, bus: Bus, user: Document) -> None:
    """Stop the account at once (keys answer 410, sessions end) and leave its data to the purge."""
    await _change_state(store, bus, user, users.DELETING)


class AccountDeletion:
    """Self-service deletion: a code mailed to the account, then the code confirms it."""

    def __init__(self, store: Store, bus: Bus, policy: DeletionPolicy) -> None:
        self._store = store
        self._bus = bus
        self._policy = policy

    async def send_code(self, user_id: str) -> int:
        """Mail a new confirmation code (the previous one stops counting); returns when it expires."""
        user = await users.get_by_id(self._store, user_id)
        if user is None or users.status_of(user) == users.DELETING:
            raise ApiError(Ret.WRONG_STATE, "the account is being deleted")
        now = now_ms()
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        expires = now + self._policy.code_ttl_seconds * 1000
        code_id = await deletion_codes.insert(
            self._store, user_id=user_id, code=code, created_at=now, expires_at=expires
        )
        # Stored first, then counted: two requests at the same moment both see each other.
        wait = await self._throttled_for(user_id, code_id, now)
        if wait is not None:
            await deletion_codes.delete(self._store, code_id)
            raise rate_limited("a confirmation code was sent recently", retry_after_seconds=wait)
        try:
            await request_account_mail(
                self._bus,
                email=user["email"],
                purpose="delete-account",
                code=code,
                link=None,
                valid_seconds=self._policy.code_ttl_seconds,
            )
        except Exception:
            await deletion_codes.delete(self._store, code_id)  # not sent: it must not count
            raise
        log.info("account deletion code sent", user_id=user_id)
        return expires

    async def _throttled_for(self, user_id: str, code_id: str, now: int) -> int | None:
        """Seconds until another code may be sent, or None when this one may go out."""
        sent = await deletion_codes.sent_since(self._store, user_id, now - DAY_MS)
        others = [int(record["createdAt"]) for record in sent if record["_id"] != code_id]
        interval_ms = self._policy.mail_interval_seconds * 1000
        waits = [at + interval_ms - now for at in others if at > now - interval_ms]
        if len(others) >= self._policy.mails_per_day:
            waits.append(others[len(others) - self._policy.mails_per_day] + DAY_MS - now)
        return -(-max(waits) // 1000) if waits else None

    async def confirm(self, user_id: str, code: object) -> None:
        """Delete the account if `code` is its newest code, unexpired, within its tries."""
        text = _code_text(code)
        now = now_ms()
        record = await deletion_codes.newest_for_user(self._store, user_id)
        if record is None or int(record["expiresAt"]) <= now:
            raise ApiError(Ret.CODE_INVALID, "no valid confirmation code: ask for a new one")
        if not await deletion_codes.take_try(self._store, record, max_tries=MAX_TRIES, at_ms=now):
            raise ApiError(Ret.CODE_INVALID, "too many wrong codes: ask for a new one")
        if not deletion_codes.matches(record, text):
            raise ApiError(Ret.CODE_INVALID, "the confirmation code is wrong")
        if not await deletion_codes.consume(self._store, record["_id"]):
            raise ApiError(Ret.CODE_INVALID, "the confirmation code was used already")
        user = await users.get_by_id(self._store, user_id)
        if user is None:
            raise not_found("no such user")
        await mark_deleting(self._store, self._bus, user)


def _code_text(code: object) -> str:
    """The code as sent: text of 6 digits, or a JSON number (leading zeros restored)."""
    if isinstance(code, int) and not isinstance(code, bool) and 0 <= code < 10**CODE_DIGITS:
        return f"{code:0{CODE_DIGITS}d}"
    if not isinstance(code, str):
        raise invalid(f"code must be the {CODE_DIGITS} digits mailed to you")
    text = code.strip()
    if not text:
        raise ApiError(Ret.CODE_EMPTY, "the confirmation code is empty")
    if len(text) != CODE_DIGITS or not text.isascii() or not text.isdigit():
        raise ApiError(Ret.CODE_INVALID, f"the confirmation code is {CODE_DIGITS} digits")
    return text
