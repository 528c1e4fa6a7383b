"""The e-mail channel against a real local SMTP server (aiosmtpd): the mail as received, and failures.

One table of (configuration, delivery, scripted server, expected outcome) run by one runner, then the
mail itself: parts, escaping, headers, and that no header can be injected through a title.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import ClassVar

import pytest

from services.dispatcher.channels.base import Delivery
from services.dispatcher.channels.email import EmailChannel, SmtpConfig
from shared.data.push_ways import WayTarget
from shared.failures import PermanentError, TransientError
from shared.messages.push import MessageBody
from tests.fakes.smtp_server import HANG, ReceivedMail, SmtpServer
from tests.integration.processes import free_port

ADDRESS = "me@example.com"
TARGET = WayTarget("email", ADDRESS, unsubscribe="u-7f3a")
DELIVERY = Delivery(
    message_id="6b0b0d97ad536848af03b404",
    body=MessageBody(title="Deploy", content="build 42\nis live", url="https://ci.example.com/42"),
    app="iGot",
    created_at=1575017083430,
)


class QuickEmail(EmailChannel):
    total_timeout: ClassVar[float] = 1.0


def config(server: SmtpServer, **changes: object) -> SmtpConfig:
    base = SmtpConfig(
        host="127.0.0.1",
        port=server.port,
        user="",
        password="",
        sender="iGot <push@igot.example.com>",
        tls="none",
        public_url="https://igot.example.com",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@dataclass(frozen=True)
class Case:
    name: str
    outcome: type[Exception] | None  # None: delivered
    refuse: dict[str, str] = field(default_factory=dict)
    reply: str | None = None  # the reply to DATA
    credentials: tuple[str, str] | None = None
    login: tuple[str, str] | None = None  # what the channel is configured with
    target: WayTarget = TARGET


CASES = [
    Case("delivered", None),
    Case("no such user (550)", PermanentError, refuse={ADDRESS: "550 5.1.1 <me@example.com>: no such user"}),
    Case("refused content (554)", PermanentError, reply="554 5.7.1 message refused"),
    Case("try again later (451)", TransientError, reply="451 4.3.0 try again later"),
    Case("mailbox busy on RCPT (450)", TransientError, refuse={ADDRESS: "450 4.2.1 mailbox busy"}),
    Case("server hangs", TransientError, reply=HANG),
    Case("logs in when a user is set", None, credentials=("igot", "pw"), login=("igot", "pw")),
    Case("wrong password (535)", PermanentError, credentials=("igot", "pw"), login=("igot", "nope")),
    Case(
        "an address with a line break",
        PermanentError,
        target=WayTarget("email", "me@example.com\r\nBcc: x@y"),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_outcomes(case: Case) -> None:
    smtp = SmtpServer(refuse=dict(case.refuse), credentials=case.credentials)
    if case.reply is not None:
        smtp.script = [case.reply]
    smtp.start()
    try:
        user, password = case.login or ("", "")
        channel = QuickEmail(config(smtp, user=user, password=password))
        if case.outcome is None:
            result = await channel.send(case.target, DELIVERY)
            assert result.way == "email" and result.provider_reference
            (mail,) = smtp.mails
            assert mail.rcpt_tos == (ADDRESS,) and mail.mail_from == "push@igot.example.com"
            assert mail.login == (user or None)
        else:
            with pytest.raises(case.outcome) as raised:
                await channel.send(case.target, DELIVERY)
            assert type(raised.value) is case.outcome
            assert smtp.mails == []
    finally:
        smtp.stop()


async def test_unreachable_is_transient() -> None:
    closed = SmtpServer(port=free_port())
    with pytest.raises(TransientError):
        await QuickEmail(config(closed)).send(TARGET, DELIVERY)


async def test_the_mail(smtp: SmtpServer) -> None:
    await EmailChannel(config(smtp)).send(TARGET, DELIVERY)
    mail = only(smtp)
    message = mail.message
    assert message["From"] == "iGot <push@igot.example.com>" and message["To"] == ADDRESS
    assert message["Subject"] == "Deploy"
    assert message["Message-ID"].endswith("@igot.example.com>")
    assert DELIVERY.message_id in message["Message-ID"]
    assert message["List-Unsubscribe"] == "<https://igot.example.com/unsubscribe/u-7f3a>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Date"] == "Fri, 29 Nov 2019 08:44:43 +0000"  # when it was accepted
    text, html = mail.part("plain"), mail.part("html")
    assert "Deploy" in text and "build 42\nis live" in text and "https://ci.example.com/42" in text
    assert '<a href="https://ci.example.com/42">' in html and "build 42\nis live" in html
    assert "https://igot.example.com/unsubscribe/u-7f3a" in text


async def test_content_never_becomes_markup(smtp: SmtpServer) -> None:
    hostile = Delivery(
        "m1",
        MessageBody(
            title='<img src=x onerror="alert(1)">',
            content="<script>alert('x')</script> & ${content}",
            url="javascript:alert(1)",
        ),
        app="iGot",
        created_at=0,
    )
    await EmailChannel(config(smtp)).send(TARGET, hostile)
    html = only(smtp).part("html")
    assert (
        "<script>" not in html
        and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; ${content}" in html
    )
    assert "<img" not in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert "javascript:" not in html and "javascript:" not in only(smtp).part("plain")


async def test_no_header_injection_through_the_title(smtp: SmtpServer) -> None:
    injected = Delivery(
        "m2",
        MessageBody(title="Hi\r\nBcc: victim@example.org\r\nX-Evil: 1", content="c"),
        app="Evil\nApp",
        created_at=0,
    )
    await EmailChannel(config(smtp)).send(TARGET, injected)
    mail = only(smtp)
    assert mail.rcpt_tos == (ADDRESS,)
    assert mail.message["Bcc"] is None and mail.message["X-Evil"] is None
    assert mail.message["Subject"] == "Hi Bcc: victim@example.org X-Evil: 1"
    headers = mail.raw.split(b"\r\n\r\n", 1)[0]
    assert b"\nBcc:" not in headers and b"\nX-Evil:" not in headers


async def test_the_subject_falls_back_to_the_first_line(smtp: SmtpServer) -> None:
    untitled = Delivery(
        "m3", MessageBody(content="\n  disk almost full\nsecond line"), app="iGot", created_at=0
    )
    await EmailChannel(config(smtp)).send(WayTarget("email", ADDRESS), untitled)
    message = only(smtp).message
    assert message["Subject"] == "disk almost full"
    assert message["List-Unsubscribe"] is None  # no token on this way: no link to offer


def only(smtp: SmtpServer) -> ReceivedMail:
    (mail,) = smtp.mails
    return mail
