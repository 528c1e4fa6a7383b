"""The OpenAPI 3.1 document of every HTTP route iGot serves, built from small pieces.

One document describes the whole product, whichever services a process runs, so a client or a proxy
in front of a distributed deployment reads the same contract from any of them. A test compares its
(method, path) pairs with the routes of a process that runs every service, so the two cannot drift
apart, and the fuzz suite sends generated requests built from it to a running server.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from igot.openapi.account_lifecycle import account_lifecycle_operations
from igot.openapi.accounts import account_operations
from igot.openapi.compat import compat_operations
from igot.openapi.complaints import complaint_operations
from igot.openapi.delivery_preferences import delivery_preference_operations, delivery_preference_schemas
from igot.openapi.group_links import group_link_operations, group_link_tag
from igot.openapi.pieces import JSON, Operation, answer, operation, page_parameters, parameter, retry_after
from igot.openapi.push import push_operations
from igot.openapi.push_ways import push_way_operations, push_way_schemas
from igot.openapi.schemas import RET_MEANINGS, component_schemas, ref, text
from igot.openapi.temporary_links import temporary_link_operations, temporary_link_tag
from igot.openapi.wechat import wechat_operations, wechat_schemas, wechat_tag

CLIENT_AUTH: list[dict[str, list[str]]] = [{"tokenQuery": []}, {"bearerToken": []}]


def _version() -> str:
    try:
        return version("igot")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "0.0.0"


def _client_operations() -> list[Operation]:
    every_ret = "HTTP 200 for every `ret`, as existing clients expect"
    page = page_parameters()
    entry = parameter("id", "path", text(), "the inbox entry's id")

    def listing(operation_id: str) -> dict[str, Any]:
        return operation(
            operation_id,
            "A page of the inbox, newest first, and its total count.",
            "client API",
            {"200": answer(every_ret, ref("MessagePage"))},
            parameters=page,
            security=CLIENT_AUTH,
        )

    return [
        Operation(
            "post",
            "/open/user/login",
            operation(
                "login",
                "Sign in with a login code (once per code); repeated failures from one address are "
                "refused with ret 205.",
                "client API",
                {"200": retry_after(answer(every_ret, ref("LoginAnswer")))},
                body={
                    "required": False,
                    "content": {
                        JSON: {"schema": ref("Login")},
                        "application/x-www-form-urlencoded": {"schema": ref("Login")},
                    },
                },
            ),
        ),
        Operation("get", "/open/message/", listing("listMessages")),
        Operation("get", "/open/message", listing("listMessagesNoSlash")),
        Operation(
            "get",
            "/open/message/{id}",
            operation(
                "messageDetail",
                "One message with its delivery status and attempts; marks it read.",
                "client API",
                {"200": answer(every_ret, ref("MessageDetail"))},
                parameters=[entry],
                security=CLIENT_AUTH,
            ),
        ),
        Operation(
            "post",
            "/open/message/{id}",
            operation(
                "markRead",
                "Mark one message read.",
                "client API",
                {"200": answer(every_ret, ref("Done"))},
                parameters=[entry],
                security=CLIENT_AUTH,
            ),
        ),
    ]


def _operations_routes() -> list[Operation]:
    return [
        Operation(
            "get",
            "/healthz",
            operation("healthz", "Alive.", "operations", {"200": answer("alive", ref("Health"))}),
        ),
        Operation(
            "get",
            "/readyz",
            operation(
                "readyz",
                "Store and bus reachable.",
                "operations",
                {"200": answer("ready", ref("Readiness")), "503": answer("not ready", ref("Readiness"))},
            ),
        ),
        Operation(
            "get",
            "/metrics",
            operation(
                "metrics",
                "Prometheus exposition of this process; with `IGOT_METRICS_TOKEN` set, only for that bearer.",
                "operations",
                {
                    "200": answer("the metrics", text(), media="text/plain"),
                    "401": answer("metrics token missing (ret 300) or wrong (ret 301)", ref("Refusal")),
                },
                security=[{}, {"metricsToken": []}],
            ),
        ),
        Operation(
            "get",
            "/openapi.json",
            operation(
                "openapi",
                "This document.",
                "contract",
                {"200": answer("the OpenAPI 3.1 document", {"type": "object"})},
            ),
        ),
        Operation(
            "get",
            "/docs",
            operation(
                "docs",
                "This document as a page.",
                "contract",
                {"200": answer("HTML", text(), media="text/html")},
            ),
        ),
    ]


# GET routes that also answer HEAD: the ones without side effects. Push and message detail do not.
HEAD_PATHS = (
    *("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/open/message/", "/open/message"),
    *("/open/push-way/", "/open/push-way"),
)


def _head_of(get: Operation) -> Operation:
    """HEAD answers what GET would, without a body."""
    spec = dict(get.spec)
    spec["operationId"] = get.spec["operationId"] + "Head"
    spec["summary"] = "The answer of GET, headers only."
    responses = get.spec["responses"]
    spec["responses"] = {status: answer(item["description"]) for status, item in responses.items()}
    return Operation("head", get.path, spec)


def operations() -> list[Operation]:
    listed = [
        *_operations_routes(),
        *_client_operations(),
        *complaint_operations(),
        *account_operations(),
        *account_lifecycle_operations(),
        *push_way_operations(),
        *delivery_preference_operations(),
        *wechat_operations(),
        *temporary_link_operations(),
        *group_link_operations(),
        *push_operations(),
        *compat_operations(),
    ]
    heads = [_head_of(op) for op in listed if op.method == "get" and op.path in HEAD_PATHS]
    return [*listed, *heads]


def _description() -> str:
    rets = "\n".join(f"| {int(ret)} | {meaning} |" for ret, meaning in RET_MEANINGS.items())
    return (
        'Every JSON answer is the envelope `{"ret": <int>, "data": {...}, "errMsg": "success" | "<reason>"}`.'
        " Push ingress answers refusals with a matching HTTP status as well (so `curl -f` fails); `/open/` "
        "answers HTTP 200 for every `ret`. A request the server cannot read (malformed, or a request line or "
        "headers over its limits) is refused before routing, on every path, with the envelope and HTTP 400, "
        "414 or 431; a path or method no route serves answers 404 or 405, but under `/open/` and "
        "`/access/` HTTP 200 with ret 203 or 202."
        "\n\n| ret | meaning |\n|---|---|\n" + rets
    )


def build_document(public_url: str | None = None) -> dict[str, Any]:
    """The whole contract; `public_url` names the server users reach, when known."""
    paths: dict[str, dict[str, Any]] = {}
    for op in operations():
        paths.setdefault(op.path, {})[op.method] = op.spec
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "iGot",
            "version": _version(),
            "summary": "Self-hostable push aggregation: one HTTP request, kept in an inbox, delivered.",
            "description": _description(),
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "tags": [
            {"name": "push", "description": "Push ingress: anyone with a push key sends a message."},
            {"name": "client API", "description": "The key owner's inbox; token in `?token=` or a bearer."},
            {"name": "push ways", "description": "Bark, e-mail, webhook: bind, verify, order; as the inbox."},
            temporary_link_tag(),
            group_link_tag(),
            wechat_tag(),
            {"name": "links", "description": "The pages behind the links iGot sends (HTML)."},
            {"name": "operations", "description": "Health, readiness and metrics of every process."},
            {"name": "contract", "description": "This document."},
        ],
        "paths": paths,
        "components": {
            "schemas": {
                **component_schemas(),
                **push_way_schemas(),
                **delivery_preference_schemas(),
                **wechat_schemas(),
            },
            "parameters": {
                "TraceId": parameter(
                    "X-Trace-Id", "header", text(), "a trace id to log this request under, echoed back"
                )
            },
            "securitySchemes": {
                "tokenQuery": {"type": "apiKey", "in": "query", "name": "token"},
                "bearerToken": {"type": "http", "scheme": "bearer"},
                "metricsToken": {"type": "http", "scheme": "bearer", "description": "`IGOT_METRICS_TOKEN`"},
            },
        },
    }
    if public_url:
        document["servers"] = [{"url": public_url}]
    return document
