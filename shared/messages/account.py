"""Bus messages of the account family: auth asks for a mail to an account's address.

A sign-in code (with its one-click link) or the code that confirms deleting an account. The dispatcher's
e-mail channel sends it. The message carries the code, as the mail itself will: it is never parked (a
mail that cannot be sent is dropped, and the user asks for another), and one that arrives after
`expires_at` is dropped unsent.
"""

from __future__ import annotations

from typing import Literal

from shared.messages.base import BusMessage

AccountMailPurpose = Literal["sign-in", "delete-account"]


class AccountMailRequestedV1(BusMessage):
    type: Literal["account.mail"] = "account.mail"
    version: Literal[1] = 1

    request_id: str
    email: str
    purpose: AccountMailPurpose
    code: str
    link: str | None = None  # the one-click sign-in link, for `sign-in`
    created_at: int  # epoch milliseconds
    expires_at: int  # epoch milliseconds: the code works until then
