"""The words of the mails iGot sends to an account's own address: a sign-in code, a deletion code.

Each becomes one e-mail through the e-mail channel (its text and HTML parts come from `email_templates`,
which escape everything). The code stands in the subject too, so that a mail client's notification is
enough to read it.
"""

from __future__ import annotations

from shared.messages.account import AccountMailRequestedV1
from shared.messages.push import MessageBody

SIGN_IN = """Your iGot sign-in code is {code}

Type it where you asked to sign in. Or sign in with one click: open the link below and press the button.

The code and the link work once, within {minutes} minutes. If you did not ask to sign in to iGot, ignore \
this mail: nobody signs in without it."""

SIGN_IN_WITHOUT_LINK = """Your iGot sign-in code is {code}

Type it where you asked to sign in. It works once, within {minutes} minutes. If you did not ask to sign in \
to iGot, ignore this mail: nobody signs in without it."""

DELETE_ACCOUNT = """Your code to confirm deleting your iGot account is {code}

Deleting stops your push keys at once and removes all your data. The code works once, within {minutes} \
minutes. If you did not ask to delete your account, ignore this mail: it stays as it is."""


def minutes_valid(request: AccountMailRequestedV1) -> int:
    return max(1, round((request.expires_at - request.created_at) / 60_000))


def body_of(request: AccountMailRequestedV1) -> MessageBody:
    minutes = minutes_valid(request)
    if request.purpose == "delete-account":
        return MessageBody(
            title=f"Confirm deleting your iGot account: {request.code}",
            content=DELETE_ACCOUNT.format(code=request.code, minutes=minutes),
            automaticallyCopy=0,
        )
    words = SIGN_IN if request.link else SIGN_IN_WITHOUT_LINK
    return MessageBody(
        title=f"iGot sign-in code: {request.code}",
        content=words.format(code=request.code, minutes=minutes),
        url=request.link or "",
        automaticallyCopy=0,
    )
