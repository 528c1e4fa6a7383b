"""E-mail: one message with a text and an HTML part, sent through the operator's SMTP server (aiosmtplib).

The connection follows `IGOT_SMTP_TLS` (`none`, `starttls` or `tls`) and logs in only when
`IGOT_SMTP_USER` is set. The subject is the title, or else the content's first line. Each mail has a
`Message-ID` on the sender's domain (or the public URL's host) and, when the way has its unsubscribe
token, `List-Unsubscribe` with `List-Unsubscribe-Post: List-Unsubscribe=One-Click`, so mail clients
offer a one-click way out.

Header values never carry line breaks: what comes from a sender (title, app) has CR and LF replaced
before it reaches a header, and `EmailMessage`'s policy refuses any that slipped through, so no header
can be injected. The bodies come from `email_templates` (the HTML part escapes everything).

A 5xx reply (550 no such user, 554 refused, 535 login refused) fails for good; a 4xx reply (451 try
again, 421 busy), a timeout and a lost or refused connection are transient. One connection per mail:
SMTP servers close idle connections soon, and a mail's cost is the server's, not the handshake's.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import ClassVar, Literal
from urllib.parse import quote, urlsplit

import aiosmtplib

from services.dispatcher.channels.base import Channel, Delivery, DeliveryResult
from services.dispatcher.channels.email_templates import render
from shared.data.push_ways import WayTarget
from shared.failures import PermanentError, TransientError

LINE_BREAKS = re.compile(r"[\r\n\x0b\x0c\x85\u2028\u2029]+")
FOOTER = "Sent by iGot"


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    user: str
    password: str
    sender: str  # the From header, e.g. "iGot <push@example.com>"
    tls: Literal["none", "starttls", "tls"]
    public_url: str  # unsubscribe links start here


def one_line(text: str) -> str:
    """A header value: line breaks (every kind a mail reader may honour) become spaces."""
    return LINE_BREAKS.sub(" ", text).strip()


def subject_of(title: str, content: str, limit: int) -> str:
    subject = one_line(title) or one_line(content.strip().split("\n", 1)[0] if content.strip() else "")
    return subject[:limit] or "iGot"


class EmailChannel(Channel):
    name: ClassVar[str] = "email"
    max_title: ClassVar[int] = 200
    max_body: ClassVar[int] = 100_000
    total_timeout: ClassVar[float] = 30.0

    def __init__(self, config: SmtpConfig) -> None:
        self._config = config
        self._domain = _domain_of(config.sender) or urlsplit(config.public_url).hostname or "localhost"

    def compose(self, target: WayTarget, delivery: Delivery) -> EmailMessage:
        body = delivery.body
        recipient = _address(target.key)
        unsubscribe = self._unsubscribe_url(target)
        mail = EmailMessage()
        mail["From"] = one_line(self._config.sender)
        mail["To"] = recipient
        mail["Subject"] = subject_of(body.title, body.content, self.max_title)
        mail["Date"] = formatdate(delivery.created_at / 1000, localtime=False, usegmt=True)
        mail["Message-ID"] = make_msgid(idstring=_safe_token(delivery.message_id), domain=self._domain)
        mail["X-Igot-Message-Id"] = _safe_token(delivery.message_id)
        if unsubscribe:
            mail["List-Unsubscribe"] = f"<{unsubscribe}>"
            mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        bodies = render(
            title=one_line(body.title)[: self.max_title],
            content=body.content[: self.max_body],
            url=one_line(body.url),
            footer=f"{FOOTER} · {one_line(delivery.app)}" if delivery.app != "iGot" else FOOTER,
            unsubscribe_url=unsubscribe,
        )
        mail.set_content(bodies.text)
        mail.add_alternative(bodies.html, subtype="html")
        return mail

    async def send(self, target: WayTarget, delivery: Delivery) -> DeliveryResult:
        try:
            mail = self.compose(target, delivery)
        except (ValueError, MessageError) as error:
            raise PermanentError(f"mail cannot be composed: {error}") from error
        config = self._config
        try:
            async with asyncio.timeout(self.total_timeout):
                await aiosmtplib.send(
                    mail,
                    hostname=config.host,
                    port=config.port,
                    username=config.user or None,
                    password=config.password if config.user else None,
                    use_tls=config.tls == "tls",
                    start_tls=config.tls == "starttls",
                    timeout=self.total_timeout,
                )
        except aiosmtplib.SMTPRecipientsRefused as error:
            raise _by_code(error.recipients[0].code, error.recipients[0].message) from error
        except aiosmtplib.SMTPResponseException as error:
            raise _by_code(error.code, error.message) from error
        except TimeoutError as error:
            raise TransientError(f"SMTP server timed out after {self.total_timeout:g}s") from error
        except (aiosmtplib.SMTPException, OSError) as error:
            raise TransientError(f"SMTP server unusable: {type(error).__name__}: {error}") from error
        return DeliveryResult(way=self.name, provider_reference=str(mail["Message-ID"]))

    def _unsubscribe_url(self, target: WayTarget) -> str | None:
        if not target.unsubscribe:
            return None
        return f"{self._config.public_url.rstrip('/')}/unsubscribe/{quote(target.unsubscribe, safe='')}"


def _by_code(code: int, message: str) -> Exception:
    said = one_line(message)[:200]
    if 500 <= code < 600:
        return PermanentError(f"SMTP server refused with {code}: {said}")
    return TransientError(f"SMTP server answered {code}: {said}")


def _address(key: str) -> str:
    """The way's address as a header value; an address that cannot be one fails for good."""
    address = one_line(key)
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or address != key:
        raise ValueError("the e-mail address is not valid")
    return str(Address(addr_spec=address))


def _domain_of(sender: str) -> str | None:
    _, address = parseaddr(sender)
    domain = address.rpartition("@")[2]
    return domain or None


def _safe_token(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "", text)[:64] or "igot"
