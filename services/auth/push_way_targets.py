"""What a push way's `key` is when it is bound, and how it is shown back.

- Bark takes what the Bark app copies: a push URL, `https://api.day.app/<device key>/…`, whose scheme,
  host and port are the Bark server (so a self-hosted server works) and whose first path segment is the
  device key; or a bare device key, pushed to `IGOT_BARK_SERVER`.
- E-mail takes an address, in the form every account's address has (`accounts.normalise_email`).
- A webhook takes an https URL.

A server or URL the user supplies is one iGot will call, so it must be https and resolve to public
addresses only (plain http and private addresses only where `IGOT_ALLOW_PRIVATE_TARGETS=true`). Keys are
shown masked: `F8Q****vue`, an e-mail as `he****@example.com`, a webhook as its origin.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from services.auth.accounts import normalise_email
from shared.envelope import invalid
from shared.outbound import TargetRefusedError, check_target

BARK_DEVICE_KEY = re.compile(r"[A-Za-z0-9_-]{4,128}")
MAX_URL = 2048
_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f]")
MASK = "****"


@dataclass(frozen=True)
class NewTarget:
    """A way's settings to store (`key` and what comes with it) and what the bind answer shows once."""

    key: str
    stored: dict[str, str] = field(default_factory=dict)
    shown_once: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TargetRules:
    bark_server: str
    allow_private: bool

    @property
    def schemes(self) -> tuple[str, ...]:
        return ("https", "http") if self.allow_private else ("https",)


async def new_target(way: str, raw: object, rules: TargetRules) -> NewTarget:
    """The way's target from the `key` the user sent; `ret 202` with a reason the user can act on."""
    if not isinstance(raw, str) or not raw.strip():
        raise invalid("key is required")
    raw = raw.strip()
    if len(raw) > MAX_URL or _UNSAFE.search(raw):
        raise invalid("key is too long or holds spaces or control characters")
    if way == "bark":
        return await _bark(raw, rules)
    if way == "email":
        # A token in the unsubscribe link of every mail, so that the receiver can stop them in one click.
        return NewTarget(key=normalise_email(raw), stored={"unsubscribe": secrets.token_urlsafe(24)})
    if way == "webhook":
        await _check(raw, rules)
        # Signs every request; shown to the user once, in the answer to the bind.
        secret = secrets.token_urlsafe(32)
        return NewTarget(key=raw, stored={"secret": secret}, shown_once={"secret": secret})
    raise invalid(f"{way} cannot be bound here")


async def _bark(raw: str, rules: TargetRules) -> NewTarget:
    if "://" not in raw:
        if not BARK_DEVICE_KEY.fullmatch(raw):
            raise invalid("not a Bark device key or push URL")
        return NewTarget(key=raw, stored={"server": rules.bark_server.rstrip("/")})
    # Checked whole first: a user name in it (`https://api.day.app@elsewhere/…`) is refused, not dropped.
    await _check(raw, rules)
    parts = urlsplit(raw)
    segments = [segment for segment in parts.path.split("/") if segment]
    if not segments or not BARK_DEVICE_KEY.fullmatch(segments[0]):
        raise invalid("the Bark URL holds no device key: copy a push URL from the Bark app")
    host, port = parts.hostname or "", parts.port  # both valid: the check parsed them
    host = f"[{host}]" if ":" in host else host
    server = f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")
    return NewTarget(key=segments[0], stored={"server": server})


async def _check(url: str, rules: TargetRules) -> None:
    try:
        await check_target(url, allow_private=rules.allow_private, schemes=rules.schemes)
    except TargetRefusedError as refused:
        raise invalid(f"address refused: {refused}") from None


def masked(way: str, key: str) -> str:
    """How a bound key is shown: enough to recognise it, not enough to use it."""
    if not key:
        return ""
    if way == "email" and "@" in key:
        local, _, domain = key.rpartition("@")
        return f"{local[:2] if len(local) > 2 else ''}{MASK}@{domain}"
    if way == "webhook":
        parts = urlsplit(key)
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/{MASK}"
    # A short key would be half given away by its ends: masked whole.
    return f"{key[:3]}{MASK}{key[-3:]}" if len(key) >= 12 else MASK
