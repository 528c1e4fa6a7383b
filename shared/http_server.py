"""The HTTP server under every service's app: what happens to a connection before and around a request.

* A request aiohttp cannot parse (a request line or a header over the limits, a malformed message) is
  answered with the envelope — ret 202 with HTTP 414 (request line too long), 431 (header too large,
  too many headers) or 400 — instead of aiohttp's plain-text page that quotes the request back, and it
  is logged as one line; errors that escape the app are logged as one JSON line too, never as a
  multi-line traceback.
* Slow clients: from the first byte of a request, a client has `IGOT_HTTP_HEADER_TIMEOUT_SECONDS` to
  finish its request line and headers, else the connection is closed (the body has its own limit, see
  `shared.web`). A connection that sends nothing is closed after the keep-alive timeout.
* `serve` runs the app until SIGTERM or SIGINT, then drains: requests in flight have 30 s to finish.
"""

from __future__ import annotations

import asyncio
import signal
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler

from shared.envelope import ApiError, Ret, error_envelope
from shared.http_json import dumps
from shared.logs import get_logger
from shared.web import SERVER_NAME

log = get_logger("igot.http")

# The request line may be a little longer than a header field: it tells a too-long URL (414) from a
# too-large header (431), since aiohttp reports both as a line over its limit.
MAX_REQUEST_LINE = 8192
MAX_HEADER_FIELD = 8190
KEEPALIVE_SECONDS = 75.0
SHUTDOWN_SECONDS = 30.0


def _refusal(status: int, exc: BaseException | None) -> ApiError:
    """The envelope for a request the server could not hand to the app."""
    if isinstance(exc, LineTooLong):
        limit = exc.args[1] if len(exc.args) > 1 else None
        if limit == MAX_REQUEST_LINE:
            return ApiError(Ret.INVALID, "request line too long", http_status=414)
        return ApiError(Ret.INVALID, "request header too large", http_status=431)
    if isinstance(exc, BadHttpMessage) and "too many headers" in str(exc).lower():
        return ApiError(Ret.INVALID, "too many request headers", http_status=431)
    if status >= 500:
        return ApiError(Ret.SERVER_ERROR, HTTPStatus(status).phrase.lower(), http_status=status)
    return ApiError(Ret.INVALID, "malformed HTTP request", http_status=status)


class GuardedRequestHandler(RequestHandler):
    """aiohttp's connection handler, with envelope answers for protocol errors and a header deadline."""

    def __init__(self, manager: web.Server, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._header_timeout = header_timeout
        self._header_deadline: asyncio.TimerHandle | None = None
        self._last_payload: StreamReader | None = None

    def data_received(self, data: bytes) -> None:
        # A deadline starts with the first byte of a request: not while a body is still arriving, and
        # not while a request is being handled (its body, or bytes of the next one pipelined behind it).
        between_requests = self._last_payload is None or self._last_payload.is_eof()
        if data and self._header_deadline is None and between_requests and not self._request_in_progress:
            self._header_deadline = self._loop.call_later(
                self._header_timeout, self._headers_too_slow, self._request_count
            )
        parsed_before = self._request_count
        super().data_received(data)
        if self._request_count != parsed_before:
            if self._messages:
                payload = self._messages[-1][1]
                self._last_payload = payload if isinstance(payload, StreamReader) else None
            self._cancel_header_deadline()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._cancel_header_deadline()
        self._last_payload = None
        super().connection_lost(exc)

    def _cancel_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self, parsed_when_armed: int) -> None:
        self._header_deadline = None
        if self._request_count != parsed_when_armed or self._request_in_progress:
            return
        log.warning("connection closed: request headers too slow", timeout_seconds=self._header_timeout)
        self.force_close()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        refusal = _refusal(status, exc)
        if refusal.http_status >= 500:
            log.error("request failed in the server", status=refusal.http_status, exc_info=exc)
        else:
            error = type(exc).__name__ if exc is not None else None
            log.warning("malformed request refused", status=refusal.http_status, error=error)
        if request.writer.output_size > 0:
            raise ConnectionError("the answer had begun: no error answer can follow it")
        response = web.Response(
            status=refusal.http_status,
            text=dumps(error_envelope(refusal)),
            content_type="application/json",
            headers={"Server": SERVER_NAME},
        )
        response.force_close()
        return response

    def log_exception(self, *args: Any, **kw: Any) -> None:
        """aiohttp's own error reports, as one JSON line with the exception rather than a traceback."""
        detail = str(args[0]) % args[1:] if len(args) > 1 else "".join(str(arg) for arg in args)
        log.error("http server error", detail=detail, exc_info=kw.get("exc_info", True))


class _GuardedServer(web.Server):
    def __init__(self, handler: Any, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._header_timeout = header_timeout
        self._handler_kwargs = {
            "keepalive_timeout": KEEPALIVE_SECONDS,
            "access_log": None,
            "max_line_size": MAX_REQUEST_LINE,
            "max_field_size": MAX_HEADER_FIELD,
        }

    def __call__(self) -> RequestHandler:
        return GuardedRequestHandler(
            self, loop=self._loop, header_timeout=self._header_timeout, **self._handler_kwargs
        )


class GuardedAppRunner(web.AppRunner):
    """An `AppRunner` whose connections are handled by `GuardedRequestHandler`."""

    def __init__(self, app: web.Application, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._header_timeout = header_timeout

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()  # starts the app (startup hooks, cleanup contexts)
        return _GuardedServer(
            plain.request_handler,
            request_factory=plain.request_factory,
            loop=asyncio.get_running_loop(),
            header_timeout=self._header_timeout,
        )


def serve(app: web.Application, *, host: str, port: int, header_timeout: float) -> None:
    """Serve `app` until SIGTERM or SIGINT, then drain and run its cleanup."""
    asyncio.run(_serve(app, host=host, port=port, header_timeout=header_timeout))


async def _serve(app: web.Application, *, host: str, port: int, header_timeout: float) -> None:
    runner = GuardedAppRunner(app, header_timeout=header_timeout, shutdown_timeout=SHUTDOWN_SECONDS)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()
