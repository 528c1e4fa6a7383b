"""What every service's HTTP side shares: app keys, the envelope middleware, health and metrics."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from ipaddress import IPv4Network, IPv6Network, ip_address

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared.bus import Bus
from shared.envelope import ApiError, Ret, unavailable
from shared.http_json import error_response
from shared.logs import get_logger
from shared.metrics import Metrics
from shared.settings import Settings
from shared.store import Store, StoreUnavailableError
from shared.tracing import TRACE_HEADER, new_trace_id

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
BUS = web.AppKey("bus", Bus)
SERVICE = web.AppKey("service", str)
METRICS = web.AppKey("metrics", Metrics)

log = get_logger("igot.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def envelope_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every refusal becomes an envelope with the right `ret`; nothing escapes as a bare 500."""
    trace_id = request.headers.get(TRACE_HEADER) or new_trace_id()
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=request.app[SERVICE], trace_id=trace_id)
    request["trace_id"] = trace_id
    started = time.perf_counter()
    response: web.StreamResponse
    try:
        response = await handler(request)
    except ApiError as error:
        log.warning("request refused", path=request.path, ret=int(error.ret), reason=error.reason)
        response = error_response(request, error)
    except StoreUnavailableError:
        log.exception("store unavailable", path=request.path)
        response = error_response(request, unavailable("store unavailable, retry later"))
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
        log.exception("unexpected error", path=request.path)
        response = error_response(request, ApiError(Ret.SERVER_ERROR, "internal error", http_status=500))
    response.headers[TRACE_HEADER] = trace_id
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
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def add_health_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)


def client_address(request: web.Request) -> str:
    """The client's address: the peer, or behind a trusted proxy the last untrusted X-Forwarded-For hop."""
    trusted = request.app[SETTINGS].trusted_proxies
    remote = request.remote or "unknown"
    if not _is_trusted(remote, trusted):
        return remote
    hops = [hop.strip() for hop in request.headers.get("X-Forwarded-For", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            return hop
    return hops[0] if hops else remote


def _is_trusted(address: str, trusted: tuple[IPv4Network | IPv6Network, ...]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def token_of(request: web.Request) -> str | None:
    """The client API token: `?token=` as the seed has it, or `Authorization: Bearer`."""
    token = request.query.get("token")
    if token:
        return token
    authorization = request.headers.get("Authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None
