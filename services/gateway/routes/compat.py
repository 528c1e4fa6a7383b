"""Drop-in push ingress: ServerChan, PushDeer and Bark requests, each answered in its own shape.

`GET|POST /{key}.send` (ServerChan), `GET|POST /message/push` (PushDeer), `POST /push` (Bark). Fields
come from the query and, on POST, the body (JSON, form or multipart; the body's win), are read by the
dialect's module (`services.gateway.compat`) and go through `Ingress.accept` as native pushes do: the
same key checks, rate limits, idempotency (`Idempotency-Key`) and outbox, one message per key. Every
refusal — bad fields, a body over the limit or too slow, the key checks, a rate limit, the store
unreachable — is answered in the dialect's shape with the HTTP status native ingress gives it (and its
`Retry-After`); a refused request or key stores nothing. A push is a side effect, so the GET routes
refuse HEAD.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from services.gateway.app_keys import INGRESS
from services.gateway.compat import bark, pushdeer, serverchan
from services.gateway.routes.ingress import IDEMPOTENCY_HEADER
from shared.envelope import ApiError, Ret, unavailable
from shared.http_json import body_fields, dumps, url_fields
from shared.logs import get_logger
from shared.models import PushRequest
from shared.store import StoreUnavailableError
from shared.web import SETTINGS, BodyReadTimeout, client_address, masked_path

routes = web.RouteTableDef()
log = get_logger("igot.gateway.compat")

Handler = Callable[[web.Request], Awaitable[web.Response]]
Outcome = str | ApiError  # a message id, or why the key was refused


def _in_dialect(dialect: str, refuse: Callable[[ApiError], dict[str, Any]]) -> Callable[[Handler], Handler]:
    """Answers whatever refuses the request in the dialect's shape, instead of the envelope."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def answer(request: web.Request) -> web.Response:
            try:
                return await handler(request)
            except ApiError as error:
                refusal = error
            except web.HTTPRequestEntityTooLarge:
                refusal = ApiError(Ret.INVALID, "request body too large", http_status=413)
            except BodyReadTimeout:
                refusal = ApiError(Ret.INVALID, "request body too slow", http_status=408)
            except StoreUnavailableError:
                log.exception("store unavailable", path=masked_path(request))
                refusal = unavailable("store unavailable, retry later")
            log.warning(
                "push refused",
                dialect=dialect,
                path=masked_path(request),
                ret=int(refusal.ret),
                reason=refusal.reason,
            )
            return _json(refuse(refusal), status=refusal.http_status, headers=refusal.headers)

        return answer

    return wrap


def _json(body: dict[str, Any], *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers, dumps=dumps)


async def _fields(request: web.Request) -> dict[str, Any]:
    """The query's fields, and on POST the body's over them (a GET's body is not read)."""
    fields: dict[str, Any] = url_fields(request)
    if request.method == "POST":
        fields.update(await body_fields(request))
    return fields


def _idempotency_header(request: web.Request) -> str | None:
    return request.headers.get(IDEMPOTENCY_HEADER)


def _max_keys(request: web.Request) -> int:
    return request.app[SETTINGS].dropin_max_keys


async def _push(request: web.Request, keys: list[str], push: PushRequest) -> list[Outcome]:
    """One message per key, in order; a key's refusal does not stop the keys after it."""
    ingress = request.app[INGRESS]
    client = client_address(request)
    outcomes: list[Outcome] = []
    for key in keys:
        try:
            outcomes.append(await ingress.accept(key, push, trace_id=request["trace_id"], client=client))
        except ApiError as error:
            outcomes.append(error)
        except StoreUnavailableError:
            log.exception("store unavailable", path=masked_path(request))
            outcomes.append(unavailable("store unavailable, retry later"))
    return outcomes


@routes.get("/{key:[^/]+}.send", allow_head=False)
@routes.post("/{key:[^/]+}.send")
@_in_dialect("serverchan", serverchan.refused)
async def serverchan_send(request: web.Request) -> web.Response:
    push = serverchan.read_push(await _fields(request), idempotency_header=_idempotency_header(request))
    (outcome,) = await _push(request, [request.match_info["key"]], push)
    if isinstance(outcome, ApiError):
        raise outcome
    return _json(serverchan.accepted(outcome))


@routes.get("/message/push", allow_head=False)
@routes.post("/message/push")
@_in_dialect("pushdeer", pushdeer.refused)
async def pushdeer_push(request: web.Request) -> web.Response:
    fields = await _fields(request)
    keys = pushdeer.read_keys(fields, most=_max_keys(request))
    push = pushdeer.read_push(fields, idempotency_header=_idempotency_header(request))
    outcomes = await _push(request, keys, push)
    refusals = [outcome for outcome in outcomes if isinstance(outcome, ApiError)]
    if len(refusals) == len(outcomes):
        # Nothing was accepted: the first refusal answers for the request (its status, its Retry-After).
        raise refusals[0]
    return _json(pushdeer.accepted(outcomes))


@routes.post("/push")
@_in_dialect("bark", bark.refused)
async def bark_push(request: web.Request) -> web.Response:
    fields = await _fields(request)
    keys, several = bark.read_keys(fields, most=_max_keys(request))
    push = bark.read_push(fields, idempotency_header=_idempotency_header(request))
    outcomes = await _push(request, keys, push)
    if several:
        return _json(bark.accepted_each(keys, outcomes))
    (outcome,) = outcomes
    if isinstance(outcome, ApiError):
        raise outcome
    return _json(bark.accepted())
