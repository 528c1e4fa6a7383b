"""Asking for a mail to an account's address: a sign-in code with its link, or a deletion code.

The request is a durable bus message (`AccountMailRequestedV1`); the dispatcher's e-mail channel sends
it over SMTP. `publish` returns once the bus holds it, and raises `PublishError` or
`BusUnavailableError` when it does not (the caller decides whether the user hears of it).
"""

from __future__ import annotations

from shared.bus import Bus
from shared.ids import new_id, now_ms
from shared.messages.account import AccountMailPurpose, AccountMailRequestedV1

DEFAULT_VALID_SECONDS = 600


async def request_account_mail(
    bus: Bus,
    *,
    email: str,
    purpose: AccountMailPurpose,
    code: str,
    link: str | None,
    valid_seconds: int = DEFAULT_VALID_SECONDS,
) -> None:
    """Have `code` (and `link`) mailed to `email`; the mail says it works for `valid_seconds`."""
    now = now_ms()
    await bus.publish(
        AccountMailRequestedV1(
            request_id=new_id(),
            email=email,
            purpose=purpose,
            code=code,
            link=link,
            created_at=now,
            expires_at=now + valid_seconds * 1000,
        )
    )
