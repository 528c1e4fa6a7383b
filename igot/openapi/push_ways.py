"""Push ways in the OpenAPI document: the `/open/push-way/` API and the pages behind the links iGot sends."""

from __future__ import annotations

from typing import Any

from igot.openapi.pieces import JSON, Operation, answer, operation, parameter
from igot.openapi.schemas import Schema, obj, ref, success_or_refusal, text
from shared.data.push_ways import WAYS

CLIENT_AUTH: list[dict[str, list[str]]] = [{"tokenQuery": []}, {"bearerToken": []}]
BINDABLE = ["bark", "email", "webhook"]
EVERY_RET = "HTTP 200 for every `ret`, as existing clients expect"
HTML = "text/html"


def push_way_schemas() -> dict[str, Schema]:
    way = obj(
        {
            "key": text("masked (`F8Q****vue`); empty while unbound"),
            "status": {"type": "integer", "enum": [0, 1, 2], "description": "0 unbound, 1 bound, 2 verified"},
        },
        required=("key", "status"),
    )
    order = {
        "type": "array",
        "items": {"enum": list(WAYS)},
        "description": "verified ways are tried in this order",
    }
    every_way = obj({**{w: ref("PushWay") for w in WAYS}, "orders": order}, required=(*WAYS, "orders"))
    return {
        "PushWay": way,
        "PushWays": success_or_refusal(obj({"pushWay": every_way}, required=("pushWay",))),
        "BindAnswer": success_or_refusal(
            obj({"secret": text("a webhook's signing secret: shown this once, never again")})
        ),
        "Orders": obj(
            {"orders": {**order, "minItems": 1, "uniqueItems": True, "description": "each way at most once"}},
            required=("orders",),
            closed=False,
        ),
        "BindKey": obj(
            {
                "key": text(
                    "Bark: a push URL copied from the Bark app (its server is used) or a device key; "
                    "e-mail: an address; webhook: an https URL"
                )
            },
            required=("key",),
            closed=False,
        ),
    }


def push_way_operation(
    method: str, path: str, operation_id: str, summary: str, data: str, **extra: Any
) -> Operation:
    """A client API operation under the push ways tag, answering `data` (a component's name)."""
    return Operation(
        method,
        path,
        operation(
            operation_id,
            summary,
            "push ways",
            {"200": answer(EVERY_RET, ref(data))},
            security=CLIENT_AUTH,
            **extra,
        ),
    )


def _way(ways: list[str]) -> Schema:
    return parameter("way", "path", {"type": "string", "enum": ways}, "the push way")


def _page(operation_id: str, summary: str, statuses: dict[str, str]) -> dict[str, Any]:
    responses: dict[str, Schema] = {}
    for status, meaning in statuses.items():
        responses[status] = answer(meaning, text(), media=HTML)
    # A path that no route matches (an empty token) answers the envelope, as everywhere.
    responses["404"]["content"][JSON] = {"schema": ref("Refusal")}
    token = parameter("token", "path", text(minLength=1), "the token of the link iGot sent")
    return operation(operation_id, summary, "links", responses, parameters=[token])


def push_way_operations() -> list[Operation]:
    key_body = {
        "required": False,
        "content": {
            JSON: {"schema": ref("BindKey")},
            "application/x-www-form-urlencoded": {"schema": ref("BindKey")},
        },
    }
    listing = "Every push way with its masked key and status, and the order they are tried in."
    return [
        push_way_operation("get", "/open/push-way/", "listPushWays", listing, "PushWays"),
        push_way_operation("get", "/open/push-way", "listPushWaysNoSlash", listing, "PushWays"),
        push_way_operation(
            "post",
            "/open/push-way/orders",
            "setPushWayOrders",
            "Set the order push ways are tried in: known ways, each once (else ret 202).",
            "Done",
            body={"required": False, "content": {JSON: {"schema": ref("Orders")}}},
        ),
        push_way_operation(
            "post",
            "/open/push-way/{way}/bind",
            "bindPushWay",
            "Bind an unbound way (else ret 208) and send it a verification link; a refused address is "
            "ret 202, too many verifications ret 205. A webhook's answer holds its signing secret.",
            "BindAnswer",
            parameters=[_way(BINDABLE)],
            body=key_body,
        ),
        push_way_operation(
            "post",
            "/open/push-way/{way}/unbind",
            "unbindPushWay",
            "Unbind a bound or verified way (else ret 208); its pending verification links stop working.",
            "Done",
            parameters=[_way(list(WAYS))],
        ),
        push_way_operation(
            "post",
            "/open/push-way/{way}/verify",
            "sendPushWayVerification",
            "Send a bound way's verification link again (else ret 208); limited per way (ret 205).",
            "Done",
            parameters=[_way(BINDABLE)],
        ),
        Operation(
            "get",
            "/verify/{token}",
            _page(
                "followVerification",
                "The link a verification carries: verifies the way, once, within 24 hours.",
                {"200": "verified", "404": "unknown link", "410": "link used, expired or superseded"},
            ),
        ),
        Operation(
            "get",
            "/unsubscribe/{token}",
            _page(
                "unsubscribePage",
                "The unsubscribe link of every e-mail: a page asking to confirm.",
                {"200": "the confirmation form", "404": "unknown link"},
            ),
        ),
        Operation(
            "post",
            "/unsubscribe/{token}",
            _page(
                "unsubscribe",
                "Unbind the e-mail way of this link (RFC 8058 one-click unsubscribe).",
                {"200": "unsubscribed", "404": "unknown link"},
            ),
        ),
    ]
