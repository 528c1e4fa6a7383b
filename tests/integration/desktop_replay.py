"""Requests as the desktop client (Electron-iGot 1.1.4: axios in Chromium, page loaded from `file://`)
sends them, written byte for byte on a socket, and the raw answers.

What the client does that other clients do not: `Content-Type: application/json` even on a GET,
`?token=` on every call (empty before sign-in), a JSON body on every POST (`{}` when it has nothing to
say), `Origin: file://`, its own user agent, and a preflight `OPTIONS` first, since a JSON request from
another origin is not a simple one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

DESKTOP_AGENT = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) iGot/1.1.4 "
    "Chrome/80.0.3987.165 Electron/8.2.5 Safari/537.36"
)


@dataclass(frozen=True)
class RawAnswer:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


def request_bytes(method: str, target: str, *, host: str, token: str | None, body: bytes | None) -> bytes:
    """One request as the client writes it; `token` None leaves `?token=` out (the preflight's URL has
    it, but the main process's version check sends none)."""
    if token is not None:
        target = f"{target}{'&' if '?' in target else '?'}token={token}"
    lines = [
        f"{method} {target} HTTP/1.1",
        f"Host: {host}",
        "Connection: close",
        "Accept: application/json",
        "Origin: file://",
        f"User-Agent: {DESKTOP_AGENT}",
        "Content-Type: application/json",
        "Accept-Encoding: gzip, deflate",
        "Accept-Language: zh-CN",
    ]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


def preflight_bytes(method: str, target: str, *, host: str) -> bytes:
    lines = [
        f"OPTIONS {target} HTTP/1.1",
        f"Host: {host}",
        "Connection: close",
        "Accept: */*",
        "Origin: file://",
        f"Access-Control-Request-Method: {method}",
        "Access-Control-Request-Headers: content-type",
        f"User-Agent: {DESKTOP_AGENT}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def send(base: str, raw: bytes) -> RawAnswer:
    where = urlsplit(base)
    reader, writer = await asyncio.open_connection(where.hostname, where.port)
    writer.write(raw)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawAnswer(status=int(status_line.split(" ", 2)[1]), headers=headers, body=body)


def keys_in(value: Any) -> Iterator[str]:
    """Every object key in a JSON value, at any depth."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from keys_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from keys_in(item)
