"""Signing in by e-mail: a 6-digit code and a one-click link mailed to the address, each working once.

* `request_code`: mails a code and a link `{public_url}/signin/<token>` (the token has 256 random bits).
  With open registration any address gets one; closed, only addresses of existing accounts, and never a
  disabled account or one being deleted. A new code replaces the address's previous one.
* `verify`: the address and its code → a session. At most `code_tries` tries per code (the last wrong
  one kills it), counted exactly across processes (`data.signin_codes`). With open registration, the
  first sign-in of an address creates its account; the unique e-mail index makes sure two sign-ins at
  once create one.
* `link_state` / `follow_link`: the page behind the link. Opening it changes nothing (mail scanners
  fetch links); its button signs in and answers a session token and a fresh login code.

No answer tells whether an address has an account. Asking for a code answers the same, after the same
checks and throttles, for every well-formed address; the code is made and mailed in the background, so
the answer does not wait for the store or the bus on one path only. A wrong, used or expired code, an
unknown address and an account that cannot sign in all answer 303 with the same words, and the try is
counted the same way.

Mails are throttled per address (one per `mail_interval_seconds`, `mails_per_address_per_hour`) and per
client (`mails_per_client_per_hour`, unless the client is in an exempt network), with 205 and
`Retry-After`. Wrong codes count as failed sign-ins of the client (`login_limiter`, as for login codes).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import Enum

from services.auth import accounts
from services.auth.account_mail import request_account_mail
from services.auth.accounts import ClientInfo, IssuedCode
from services.auth.data import signin_codes, users
from shared.bus import Bus, BusUnavailableError, PublishError
from shared.envelope import ApiError, Ret, rate_limited
from shared.ids import new_id, now_ms
from shared.logs import get_logger
from shared.rate_limit import Limit, RateLimiter
from shared.settings import Settings
from shared.store import Document, Store, StoreError

log = get_logger("igot.auth.signin")

CODE_DIGITS = 6
_CODE = re.compile(r"[0-9]{6}")
_LINK_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,100}")
HOUR = 3600.0
WRONG_CODE = "sign-in failed: the code is wrong, used or expired"


@dataclass(frozen=True)
class SigninPolicy:
    public_url: str
    open_registration: bool
    code_ttl_seconds: int
    code_tries: int
    token_ttl_seconds: int
    login_code_ttl_seconds: int
    mail_interval_seconds: int
    mails_per_address_per_hour: int
    mails_per_client_per_hour: int

    @classmethod
    def of(cls, settings: Settings) -> SigninPolicy:
        return cls(
            public_url=settings.public_url.rstrip("/"),
            open_registration=settings.open_registration,
            code_ttl_seconds=settings.signin_code_ttl_seconds,
            code_tries=settings.signin_code_tries,
            token_ttl_seconds=settings.token_ttl_seconds,
            login_code_ttl_seconds=settings.login_code_ttl_seconds,
            mail_interval_seconds=settings.signin_mail_interval_seconds,
            mails_per_address_per_hour=settings.signin_mails_per_address_per_hour,
            mails_per_client_per_hour=settings.signin_mails_per_client_per_hour,
        )

    def address_limits(self) -> tuple[Limit, ...]:
        interval = self.mail_interval_seconds
        return (
            Limit("signin-mail-address", 1 if interval else 0, float(interval or 1)),
            Limit("signin-mail-address-hour", self.mails_per_address_per_hour, HOUR),
        )

    def client_limit(self) -> Limit:
        return Limit("signin-mail-client", self.mails_per_client_per_hour, HOUR)


class LinkOutcome(Enum):
    READY = "ready"  # valid: the page offers the button
    SIGNED_IN = "signed-in"
    UNKNOWN = "unknown"  # never sent, used already, or replaced by a newer mail
    EXPIRED = "expired"
    REFUSED = "refused"  # valid, but the account cannot sign in (disabled, being deleted)


@dataclass(frozen=True)
class LinkResult:
    outcome: LinkOutcome
    masked_email: str = ""
    token: str = ""
    login_code: IssuedCode | None = None


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def _code_of(code: object) -> str:
    if code is None or code == "":
        raise ApiError(Ret.CODE_EMPTY, "sign-in failed: code is empty")
    if not isinstance(code, str) or not _CODE.fullmatch(code.strip()):
        raise ApiError(Ret.CODE_INVALID, f"sign-in failed: the code is {CODE_DIGITS} digits")
    return code.strip()


class EmailSignin:
    def __init__(self, store: Store, bus: Bus, limiter: RateLimiter, policy: SigninPolicy) -> None:
        self._store = store
        self._bus = bus
        self._limiter = limiter
        self._policy = policy
        self._mailing: set[asyncio.Task[None]] = set()

    @property
    def policy(self) -> SigninPolicy:
        return self._policy

    async def request_code(self, email: object, *, client: str) -> None:
        """Throttle, then have a code mailed to the address if it may sign in (in the background)."""
        address = accounts.normalise_email(email)
        if not self._limiter.is_exempt(client):
            await self._throttle(
                self._policy.client_limit(), client, "too many sign-in mails from your address"
            )
        for limit in self._policy.address_limits():
            await self._throttle(limit, address, "a sign-in mail was sent to this address recently")
        task = asyncio.create_task(self._mail_code(address))
        self._mailing.add(task)
        task.add_done_callback(self._mailing.discard)

    async def verify(self, email: object, code: object, *, client: ClientInfo) -> str:
        """A session token for the address's code; 303 for any code that does not sign in."""
        address = accounts.normalise_email(email)
        typed = _code_of(code)
        store, now = self._store, now_ms()
        record = await signin_codes.newest_for_email(store, address)
        if record is None or record["expiresAt"] <= now:
            # Counted like a try on a real code, so that the answer takes the same work.
            await signin_codes.claim_try(
                store, _no_code_id(address), tries=self._policy.code_tries, expires_at=now + 60_000
            )
            raise ApiError(Ret.CODE_INVALID, WRONG_CODE)
        number = await signin_codes.claim_try(
            store, record["_id"], tries=self._policy.code_tries, expires_at=record["expiresAt"]
        )
        if number is None:
            await signin_codes.delete(store, record["_id"])
            raise ApiError(Ret.CODE_INVALID, WRONG_CODE)
        if not hmac.compare_digest(record["codeDigest"], signin_codes.code_digest(address, typed)):
            if number >= self._policy.code_tries:
                await signin_codes.delete(store, record["_id"])  # that was its last try
            raise ApiError(Ret.CODE_INVALID, WRONG_CODE)
        if await signin_codes.take(store, record["_id"]) is None:  # used by its link or another try
            raise ApiError(Ret.CODE_INVALID, WRONG_CODE)
        user_id = await self._account_for(address)
        if user_id is None:
            raise ApiError(Ret.CODE_INVALID, WRONG_CODE)
        return await accounts.open_session(
            store,
            user_id,
            origin=accounts.FROM_EMAIL_CODE,
            token_ttl_seconds=self._policy.token_ttl_seconds,
            client=client,
        )

    async def link_state(self, link_token: str) -> LinkResult:
        """What the link's page shows before its button is pressed; changes nothing."""
        record = await self._link_record(link_token)
        if record is None:
            return LinkResult(LinkOutcome.UNKNOWN)
        if record["expiresAt"] <= now_ms():
            return LinkResult(LinkOutcome.EXPIRED)
        return LinkResult(LinkOutcome.READY, masked_email=mask_email(record["email"]))

    async def follow_link(self, link_token: str, *, client: ClientInfo) -> LinkResult:
        """Sign in with the link (once): a session token and a fresh login code for a desktop client."""
        record = await self._link_record(link_token)
        if record is None:
            return LinkResult(LinkOutcome.UNKNOWN)
        if record["expiresAt"] <= now_ms():
            return LinkResult(LinkOutcome.EXPIRED)
        if await signin_codes.take(self._store, record["_id"]) is None:
            return LinkResult(LinkOutcome.UNKNOWN)
        user_id = await self._account_for(record["email"])
        if user_id is None:
            return LinkResult(LinkOutcome.REFUSED)
        token = await accounts.open_session(
            self._store,
            user_id,
            origin=accounts.FROM_EMAIL_LINK,
            token_ttl_seconds=self._policy.token_ttl_seconds,
            client=client,
        )
        login_code = await accounts.issue_login_code_for(
            self._store, user_id, ttl_seconds=self._policy.login_code_ttl_seconds
        )
        return LinkResult(
            LinkOutcome.SIGNED_IN,
            masked_email=mask_email(record["email"]),
            token=token,
            login_code=login_code,
        )

    async def close(self) -> None:
        """Let the mails being made finish (at shutdown)."""
        if self._mailing:
            await asyncio.wait(set(self._mailing), timeout=10)

    async def _throttle(self, limit: Limit, subject: str, reason: str) -> None:
        refusal = await self._limiter.check(limit, subject)
        if refusal is not None:
            log.warning("sign-in mail throttled", limit=limit.name, retry_after=refusal.retry_after_seconds)
            raise rate_limited(f"{reason}: try again later", retry_after_seconds=refusal.retry_after_seconds)

    async def _mail_code(self, address: str) -> None:
        try:
            user = await users.get_by_email(self._store, address)
            if user is None and not self._policy.open_registration:
                log.info("sign-in mail not sent: registration is closed and the address has no account")
                return
            if user is not None and not accounts.can_sign_in(user):
                log.info("sign-in mail not sent: the account cannot sign in")
                return
            code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
            link_token = secrets.token_urlsafe(32)
            code_id, now = new_id(), now_ms()
            ttl = self._policy.code_ttl_seconds
            await signin_codes.insert(
                self._store,
                code_id=code_id,
                email=address,
                code=code,
                link_token=link_token,
                created_at=now,
                expires_at=now + ttl * 1000,
            )
            await signin_codes.delete_for_email_except(self._store, address, code_id)
            await request_account_mail(
                self._bus,
                email=address,
                purpose="sign-in",
                code=code,
                link=f"{self._policy.public_url}/signin/{link_token}",
                valid_seconds=ttl,
            )
            log.info("sign-in mail requested")
        except (StoreError, PublishError, BusUnavailableError) as error:
            log.warning("sign-in mail not sent", error=f"{type(error).__name__}: {error}")
        except Exception:
            log.exception("sign-in mail failed unexpectedly")

    async def _link_record(self, link_token: str) -> Document | None:
        if not _LINK_TOKEN.fullmatch(link_token):
            return None
        return await signin_codes.get_by_link(self._store, link_token)

    async def _account_for(self, address: str) -> str | None:
        """The id of the account that signs in as `address`, made now with open registration; None when
        there is none or it cannot sign in."""
        user = await users.get_by_email(self._store, address)
        if user is None:
            if not self._policy.open_registration:
                return None
            try:
                return (await accounts.create_user(self._store, address)).id
            except ApiError as error:
                if error.ret != Ret.WRONG_STATE:
                    raise
                user = await users.get_by_email(self._store, address)  # made by a sign-in at the same time
        return str(user["_id"]) if user is not None and accounts.can_sign_in(user) else None


def _no_code_id(address: str) -> str:
    """Where the tries on an address without a live code are counted."""
    return "none-" + hashlib.sha256(address.encode()).hexdigest()[:32]
