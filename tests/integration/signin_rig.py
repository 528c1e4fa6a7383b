"""A running iGot (either mode) with a real local SMTP server, and the calls a client makes to sign in.

`running_world(mode, ...)` starts it with the suite's settings, mail through `tests.fakes.smtp_server`,
and whatever a test adds; `World` reads the mails iGot sends and takes the code and the link from them.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.fakes.smtp_server import ReceivedMail, SmtpServer
from tests.integration.conftest import deployed
from tests.integration.processes import Deployment
from tests.waiting import eventually

MODES = ("standalone", "distributed")
CODE = re.compile(r"sign-in code is ([0-9]{6})")
LINK = re.compile(r"https?://[^\s<>\"]+/signin/[A-Za-z0-9_-]+")
# Sign-in mails as often as a test needs, and room for the failures a test makes on purpose.
RELAXED = {
    "signin_mail_interval_seconds": "0",
    "signin_mails_per_address_per_hour": "0",
    "signin_mails_per_client_per_hour": "0",
    "login_failures_per_client": "1000",
    "login_failures_global": "1000",
}


@dataclass(frozen=True)
class Mail:
    code: str
    link: str
    raw: ReceivedMail


@dataclass
class World:
    deployment: Deployment
    smtp: SmtpServer
    session: aiohttp.ClientSession
    last_headers: dict[str, str] = field(default_factory=dict)  # of the last `call`'s answer

    @property
    def auth(self) -> str:
        return self.deployment.auth_url

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """An `/open/` call: always HTTP 200 with an envelope whose `data` is an object."""
        params = {"token": token} if token is not None else None
        async with self.session.request(
            method, f"{self.auth}{path}", params=params, json=json, headers=headers
        ) as response:
            answer: dict[str, Any] = await response.json()
            assert response.status == 200, answer
            self.last_headers = dict(response.headers)
        assert isinstance(answer["data"], dict), answer
        return answer

    async def ask_for_mail(self, email: str, **headers: str) -> dict[str, Any]:
        return await self.call("POST", "/open/user/email", json={"email": email}, headers=headers or None)

    async def verify(self, email: str, code: object, **headers: str) -> dict[str, Any]:
        return await self.call(
            "POST", "/open/user/email/verify", json={"email": email, "code": code}, headers=headers or None
        )

    def mails_to(self, email: str) -> list[ReceivedMail]:
        return [mail for mail in list(self.smtp.mails) if email in mail.rcpt_tos]

    async def mail(self, email: str, number: int = 1) -> Mail:
        """The `number`-th mail sent to `email` (waiting for it), with its code and link."""
        await eventually(lambda: len(self.mails_to(email)) >= number, what=f"mail {number} to {email}")
        received = self.mails_to(email)[number - 1]
        text = received.part("plain")
        code, link = CODE.search(text), LINK.search(text)
        assert code is not None and link is not None, text
        return Mail(code=code.group(1), link=link.group(), raw=received)

    async def sign_up(self, email: str, **headers: str) -> str:
        """A session for `email` by the mailed code (making the account with open registration)."""
        before = len(self.mails_to(email))
        assert (await self.ask_for_mail(email))["ret"] == 0
        mail = await self.mail(email, before + 1)
        answer = await self.verify(email, mail.code, **headers)
        assert answer["ret"] == 0, answer
        token: str = answer["data"]["token"]
        return token

    async def page(self, method: str, url: str) -> tuple[int, str, dict[str, str]]:
        async with self.session.request(method, url) as response:
            return response.status, await response.text(), dict(response.headers)


@asynccontextmanager
async def running_world(
    mode: str, tmp_path: Path, amqp_url: str, mongo_url: str, namespace: str, **settings: str
) -> AsyncIterator[World]:
    smtp = SmtpServer()
    smtp.start()
    env = {
        "smtp_host": "127.0.0.1",
        "smtp_port": str(smtp.port),
        "smtp_from": "iGot <signin@example.com>",
        **RELAXED,
        **settings,
    }
    try:
        async with (
            deployed(mode, tmp_path, amqp_url, mongo_url, namespace, **env) as deployment,
            aiohttp.ClientSession() as session,
        ):
            yield World(deployment=deployment, smtp=smtp, session=session)
    finally:
        smtp.stop()
