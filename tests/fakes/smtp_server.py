"""A real SMTP server (aiosmtpd) on 127.0.0.1 that records every mail and answers from a script.

`refuse` maps recipient addresses to the reply their `RCPT TO` gets (e.g. `550 5.1.1 no such user`);
`script` is a list of replies to `DATA` used in order, then `otherwise` (e.g. `451 4.3.0 try again
later`), or `HANG` to hold the reply until `release()`. With `credentials`, it offers `AUTH` (without
TLS, for tests) and refuses a wrong login with 535; the mail records who logged in.

The server runs in its own thread (aiosmtpd's `Controller`), so a test's event loop is never blocked by it.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

HANG = "hang"
ACCEPTED = "250 2.0.0 OK: queued"


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    login: str | None

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.raw, policy=policy.default)

    def part(self, subtype: str) -> str:
        """The decoded text of the `text/<subtype>` part, with plain line breaks."""
        found = self.message.get_body(preferencelist=(subtype,))
        assert found is not None and found.get_content_subtype() == subtype, f"no text/{subtype} part"
        return str(cast(EmailMessage, found).get_content()).replace("\r\n", "\n")


@dataclass
class SmtpServer:
    refuse: dict[str, str] = field(default_factory=dict)
    script: list[str] = field(default_factory=list)
    otherwise: str = ACCEPTED
    credentials: tuple[str, str] | None = None
    mails: list[ReceivedMail] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    def release(self, *, otherwise: str = ACCEPTED) -> None:
        self.script.clear()
        self.otherwise = otherwise
        self._released.set()

    def start(self) -> None:
        self.port = _free_port()
        extra: dict[str, Any] = {}
        if self.credentials is not None:
            extra = {"authenticator": self._authenticate, "auth_require_tls": False}
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, **extra)
        self._controller.start()

    def stop(self) -> None:
        self._released.set()
        if self._controller is not None:
            self._controller.stop()

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword) or self.credentials is None:
            return AuthResult(success=False, handled=False)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        if (login, password) != self.credentials:
            return AuthResult(success=False, handled=False)  # not handled: the server answers 535
        return AuthResult(success=True, auth_data=login)

    def _next_reply(self) -> str:
        with self._lock:
            return self.script.pop(0) if self.script else self.otherwise

    def _record(self, mail: ReceivedMail) -> None:
        with self._lock:
            self.mails.append(mail)


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        refusal = self._server.refuse.get(address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = self._server._next_reply()
        while reply == HANG:
            if self._server._released.is_set():
                reply = self._server.otherwise
            else:
                await asyncio.sleep(0.02)
        if reply.startswith("250"):
            login = session.auth_data if isinstance(session.auth_data, str) else None
            self._server._record(
                ReceivedMail(
                    mail_from=str(envelope.mail_from),
                    rcpt_tos=tuple(envelope.rcpt_tos),
                    raw=_as_bytes(envelope.original_content or envelope.content or b""),
                    login=login,
                )
            )
        return reply


def _as_bytes(content: bytes | str) -> bytes:
    return content.encode() if isinstance(content, str) else bytes(content)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
