"""What every service's HTTP side shares: app keys, the envelope middleware, health and metrics.

What answers anyone, without a token, is kept small: every answer says `Server: iGot` (no library or
Python version), a client's `X-Trace-Id` is honoured only in a sane form (else a fresh one is used), and
`/metrics` can require a bearer token (`IGOT_METRICS_TOKEN`). A request body that has not arrived
`IGOT_HTTP_BODY_TIMEOUT_SECONDS` after its headers is refused with 408, so a trickling client does not
hold a handler. Push keys are bearer secrets: a path is logged with its first segment masked unless that
segment starts one of the app's fixed routes, and with the segment after a fixed prefix that a secret
follows (`SECRET_AFTER`) masked too.
"""

from __future__ import annotations

import asyncio
import hmac
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

import structlog
from aiohttp import StreamReader, web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared.bus import Bus
from shared.envelope import ApiError, Ret, unavailable
from shared.http_json import error_response
from shared.logs import get_logger
from shared.metrics import Metrics
from shared.rate_limit import RateLimiter
from shared.settings import Settings
from shared.store import Store, StoreUnavailableError
from shared.tracing import TRACE_HEADER, new_trace_id

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
BUS = web.AppKey("bus", Bus)
SERVICE = web.AppKey("service", str)
METRICS = web.AppKey("metrics", Metrics)
# One per process, for every service: push ingress and sign-in count their uses through it.
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)

SERVER_NAME = "iGot"
_SANE_TRACE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

log = get_logger("igot.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BodyReadTimeout(TimeoutError):
    """The request body did not arrive in time. A TimeoutError, so that aiohttp's lingering read of the
    unfinished body ends on it quietly and closes the connection."""


def trace_id_of(request: web.Request) -> str:
    """The client's trace id when it is 1 to 64 characters of [A-Za-z0-9._-], else a fresh one: a trace id
    lands in every log line and in the answer, so it must carry no newline, markup or kilobytes."""
    claimed = request.headers.get(TRACE_HEADER, "")
    return claimed if _SANE_TRACE_ID.fullmatch(claimed) else new_trace_id()


# Fixed path prefixes whose next segment is a secret: a verification or unsubscribe link's token, the
# push key of a temporary link.
SECRET_AFTER = ("/verify/", "/unsubscribe/", "/signin/", "/open/link/temporary/", "/open/link/group/")


def masked_path(request: web.Request) -> str:
    """The path for a log line, secrets masked to 4 characters: a first segment that starts no fixed
    route (a push key), and the segment that follows a prefix of `SECRET_AFTER`."""
    path = request.path
    first, slash, rest = path[1:].partition("/")
    if not first:
        return path
    if first not in _fixed_first_segments(request.app):
        return f"/{_mask(first)}{slash}{rest}"
    for prefix in SECRET_AFTER:
        if path.startswith(prefix) and len(path) > len(prefix):
            secret, slash_after, tail = path[len(prefix) :].partition("/")
            return f"{prefix}{_mask(secret)}{slash_after}{tail}"
    return path


def _mask(secret: str) -> str:
    return f"{secret[:4]}…****" if len(secret) > 8 else "****"


def _fixed_first_segments(app: web.Application) -> set[str]:
    segments = set()
    for resource in app.router.resources():
        first = resource.canonical[1:].split("/", 1)[0]
        if first and "{" not in first:
            segments.add(first)
    return segments


def _expire_body(content: StreamReader) -> None:
    if not content.is_eof():
        content.set_exception(BodyReadTimeout())


@web.middleware
async def envelope_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every refusal becomes an envelope with the right `ret`; nothing escapes as a bare 500."""
    trace_id = trace_id_of(request)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=request.app[SERVICE], trace_id=trace_id)
    request["trace_id"] = trace_id
    started = time.perf_counter()
    body_deadline: asyncio.TimerHandle | None = None
    if not request.content.is_eof():
        body_deadline = asyncio.get_running_loop().call_later(
            request.app[SETTINGS].http_body_timeout_seconds, _expire_body, request.content
        )
    response: web.StreamResponse
    try:
        response = await handler(request)
    except ApiError as error:
        log.warning("request refused", path=masked_path(request), ret=int(error.ret), reason=error.reason)
        response = error_response(request, error)
    except StoreUnavailableError:
        log.exception("store unavailable", path=masked_path(request))
        response = error_response(request, unavailable("store unavailable, retry later"))
    except BodyReadTimeout:
        log.warning("request body too slow", path=masked_path(request))
        response = error_response(request, ApiError(Ret.INVALID, "request body too slow", http_status=408))
    except web.HTTPRequestEntityTooLarge:
        response = error_response(request, ApiError(Ret.INVALID, "request body too large", http_status=413))
    except web.HTTPNotFound:
        response = error_response(request, ApiError(Ret.NOT_FOUND, "not found", http_status=404))
    except web.HTTPMethodNotAllowed:
        response = error_response(request, ApiError(Ret.INVALID, "method not allowed", http_status=405))
    except web.HTTPException as http_error:
        if http_error.status < 400:
            raise
        reason = http_error.reason or "bad request"
        response = error_response(request, ApiError(Ret.INVALID, reason, http_status=http_error.status))
    except Exception:
        log.exception("unexpected error", path=masked_path(request))
        response = error_response(request, ApiError(Ret.SERVER_ERROR, "internal error", http_status=500))
    finally:
        if body_deadline is not None:
            body_deadline.cancel()
    response.headers[TRACE_HEADER] = trace_id
    response.headers["Server"] = SERVER_NAME
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
    metrics_ = request.app[METRICS]
    metrics_.http_requests.labels(route=route, status=str(response.status)).inc()
    metrics_.http_latency.labels(route=route).observe(time.perf_counter() - started)
    return response


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "service": request.app[SERVICE]})


async def readyz(request: web.Request) -> web.Response:
    checks: dict[str, str] = {}
    for name, probe in (("store", request.app[STORE].ping), ("bus", request.app[BUS].ping)):
        try:
            await probe()
            checks[name] = "ok"
        except Exception as error:  # readiness reports any failure, whatever its type
            checks[name] = f"unavailable: {type(error).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return web.json_response(
        {"status": "ok" if ready else "unavailable", **checks}, status=200 if ready else 503
    )


async def metrics(request: web.Request) -> web.Response:
    """Prometheus metrics; with `IGOT_METRICS_TOKEN` set, only for `Authorization: Bearer <token>`."""
    required = request.app[SETTINGS].metrics_token.get_secret_value()
    if required:
        presented = _bearer(request)
        if not presented:
            raise ApiError(Ret.TOKEN_EMPTY, "metrics token required", http_status=401)
        if not hmac.compare_digest(presented.encode(), required.encode()):
            raise ApiError(Ret.TOKEN_WRONG, "metrics token wrong", http_status=401)
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def rate_limiter_ctx(app: web.Application) -> AsyncIterator[None]:
    """The process's rate limiter (and its sweeper) over the app's store; registered after the store's."""
    settings = app[SETTINGS]
    limiter = RateLimiter(app[STORE], exempt=settings.rate_limit_exempt, metrics=app[METRICS])
    app[RATE_LIMITER] = limiter
    limiter.start()
    yield
    await limiter.stop()


def add_health_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)


def client_address(request: web.Request) -> str:
    """The client's address: the TCP peer, or, when the peer is a trusted proxy, the `X-Forwarded-For`
    hop that the trusted proxies vouch for.

    Each proxy appends the address it received the request from, so the header is read from the right:
    hops are believed while they are trusted proxies themselves; the first untrusted hop is the client.
    Anything to its left was written by the client and is never used. A hop that is no address (no proxy
    of ours writes one) ends the walk at the last address vouched for.
    """
    trusted = request.app[SETTINGS].trusted_proxies
    client = request.remote or "unknown"
    if not _is_trusted(client, trusted):
        return client
    header = ",".join(request.headers.getall("X-Forwarded-For", []))
    for hop in reversed([part.strip() for part in header.split(",") if part.strip()]):
        address = _address_of(hop)
        if address is None:
            break
        client = str(address)
        if not any(address in network for network in trusted):
            break
    return client


def _address_of(hop: str) -> IPv4Address | IPv6Address | None:
    """The address in an X-Forwarded-For hop: `a.b.c.d`, `a.b.c.d:port`, an IPv6 address or `[v6]:port`."""
    if hop.startswith("["):
        hop = hop[1:].split("]", 1)[0]
    elif hop.count(":") == 1:
        hop = hop.split(":", 1)[0]
    try:
        return ip_address(hop)
    except ValueError:
        return None


def _is_trusted(address: str, trusted: tuple[IPv4Network | IPv6Network, ...]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def _bearer(request: web.Request) -> str | None:
    authorization = request.headers.get("Authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None


def token_of(request: web.Request) -> str | None:
    """The client API token: `?token=` as the seed has it, or `Authorization: Bearer`."""
    token = request.query.get("token")
    if token:
        return token
    return _bearer(request)
