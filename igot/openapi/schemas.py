"""The reusable parts of the API contract: the envelope, the `data` shape of each answer, the push fields.

Every JSON answer is the envelope `{ret, data, errMsg}`. A success carries `ret 0` and the route's own
`data`; a refusal carries a non-zero `ret`, an empty `data` and the reason in `errMsg`. `/open/` answers
HTTP 200 for both, so its schema is "success or refusal"; push ingress answers refusals with a 4xx/5xx
status, so its 200 is always a success.
"""

from __future__ import annotations

from typing import Any

from services.gateway.push_fields import MAX_IDEMPOTENCY_KEY, MAX_TITLE, MAX_TOPIC, MAX_URL
from shared.envelope import Ret

Schema = dict[str, Any]

RET_MEANINGS: dict[Ret, str] = {
    Ret.OK: "success",
    Ret.LOGIN_STATE: "login state passed wrongly",
    Ret.UNAVAILABLE: "broker or store unavailable, retry later",
    Ret.SERVER_ERROR: "unexpected server error",
    Ret.INVALID: "invalid parameter",
    Ret.NOT_FOUND: "not found (e.g. unknown push key)",
    Ret.KEY_INACTIVE: "key paused or expired",
    Ret.RATE_LIMITED: "rate limited",
    Ret.REJECTED: "rejected by moderation",
    Ret.FORBIDDEN: "forbidden",
    Ret.WRONG_STATE: "the state does not allow this",
    Ret.TOKEN_EMPTY: "token empty",
    Ret.TOKEN_WRONG: "token wrong",
    Ret.TOKEN_EXPIRED: "token expired",
    Ret.CODE_INVALID: "login failed: code invalid",
    Ret.CODE_EMPTY: "login failed: code empty",
    Ret.ACCESS_TOKEN_INVALID: "access_token invalid or expired",
    Ret.APP_SECRET_WRONG: "appSecret wrong",
}

HEX24 = "^[0-9a-f]{24}$"


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: dict[str, Schema], *, required: tuple[str, ...] = (), closed: bool = True) -> Schema:
    """An object schema; `closed` refuses properties not listed, so an answer cannot grow unnoticed."""
    schema: Schema = {"type": "object", "properties": properties, "required": list(required)}
    if closed:
        schema["additionalProperties"] = False
    return schema


def text(description: str = "", **limits: Any) -> Schema:
    schema: Schema = {"type": "string", **limits}
    if description:
        schema["description"] = description
    return schema


def success(data: Schema) -> Schema:
    """The envelope of a success: `ret 0`, `errMsg "success"` and the route's `data`."""
    return obj(
        {"ret": {"const": int(Ret.OK)}, "data": data, "errMsg": {"const": "success"}},
        required=("ret", "data", "errMsg"),
    )


def success_or_refusal(data: Schema) -> Schema:
    """What `/open/` answers with HTTP 200: the route's success, or a refusal with its `ret`."""
    return {"oneOf": [success(data), ref("Refusal")]}


def _ret_description() -> str:
    return "Status word: " + "; ".join(f"{int(ret)} {meaning}" for ret, meaning in RET_MEANINGS.items())


def _message_body() -> Schema:
    return obj(
        {
            "title": text(),
            "content": text(),
            "url": text(),
            "automaticallyCopy": {"type": "integer", "enum": [0, 1]},
            "copyText": text(),
            "format": {
                "enum": ["markdown", "image"],
                "description": "how to show `content` (an image's address for `image`); absent: plain text",
            },
        },
        required=("title", "content", "url", "automaticallyCopy", "copyText"),
    )


def _inbox_message(*, with_delivery: bool) -> Schema:
    properties: dict[str, Schema] = {
        "id": text("the inbox entry's id", pattern=HEX24),
        "body": ref("MessageBody"),
        "mode": text("the way that delivered it, or `inbox`"),
        "read": {"type": "boolean"},
        "app": text("who sent it"),
        "source": text("what the key that received it was created for"),
        "topic": text("label for group links"),
        "extra": {"description": "every field of the push iGot does not know, as sent"},
        "createTime": text("UTC, millisecond precision", format="date-time"),
    }
    required: tuple[str, ...] = ("id", "body", "mode", "read", "app", "createTime")
    if with_delivery:
        properties["delivery"] = ref("Delivery")
        properties["fanout"] = _fanout()
        required = (*required, "delivery")
    return obj(properties, required=required)


def _fanout() -> Schema:
    count = {"type": "integer", "minimum": 0}
    schema = obj(
        {
            "recipients": {**count, "description": "subscribers whose inbox holds it so far"},
            "delivered": {**count, "description": "delivered on a push way, or in the inbox only"},
            "failed": {**count, "description": "every push way failed (it is in the inbox all the same)"},
            "pending": {**count, "description": "push ways still being tried"},
            "done": {"type": "boolean", "description": "every subscriber has it in their inbox"},
        },
        required=("recipients", "delivered", "failed", "pending", "done"),
    )
    schema["description"] = "only for the sender of a push through a group link"
    return schema


def _delivery() -> Schema:
    attempt = obj(
        {
            "way": text("`inbox` or a push way"),
            "at": text(format="date-time"),
            "result": text(),
            "error": text(),
            "latencyMs": {"type": "number"},
            "escalation": {"const": True, "description": "a read escalation: delivered before, still unread"},
        },
        required=("way", "at", "result"),
    )
    return obj(
        {
            "status": {"type": "string", "enum": ["pending", "delivered", "failed"]},
            "attempts": {"type": "array", "items": attempt},
        },
        required=("status", "attempts"),
    )


def push_fields(*, form: bool) -> Schema:
    """The fields of a push; a form carries text only, JSON may also carry numbers and nested extras."""
    flag: Schema = {"enum": ["0", "1"]} if form else {"enum": [0, 1, "0", "1"]}
    content: Schema = text("required, not blank", pattern=r"\S")
    if not form:
        content = {"type": ["string", "number"], "pattern": r"\S", "description": "required, not blank"}
    return obj(
        {
            "content": content,
            "title": text(f"at most {MAX_TITLE} characters", maxLength=MAX_TITLE),
            "url": text("an http(s) address", maxLength=MAX_URL, format="uri"),
            "automaticallyCopy": {**flag, "description": "copy on arrival: 0 or 1, default 1"},
            "copy": text("text to copy, shown as `copyText`"),
            "topic": text("label for group links", maxLength=MAX_TOPIC),
            "idempotencyKey": text("as the `Idempotency-Key` header", maxLength=MAX_IDEMPOTENCY_KEY),
            "format": {"enum": ["text", "markdown"], "description": "how to show `content`; default text"},
            "level": {
                "enum": ["active", "timeSensitive", "passive", "critical"],
                "description": "Bark's notification level; `critical` is delivered during quiet hours too",
            },
        },
        required=("content",),
        closed=False,
    )


def component_schemas() -> dict[str, Schema]:
    return {
        "Envelope": obj(
            {
                "ret": {
                    "type": "integer",
                    "enum": [int(ret) for ret in Ret],
                    "description": _ret_description(),
                },
                "data": {"type": "object"},
                "errMsg": text('"success", or why the request was refused'),
            },
            required=("ret", "data", "errMsg"),
        ),
        "Refusal": {
            "allOf": [ref("Envelope")],
            "properties": {
                "ret": {"not": {"const": int(Ret.OK)}},
                "data": {"type": "object", "maxProperties": 0},
            },
            "description": "A refusal: a non-zero `ret`, empty `data`, the reason in `errMsg`.",
        },
        "PushAccepted": success(
            obj({"id": text("the message's id in the inbox", pattern=HEX24)}, required=("id",))
        ),
        "LoginAnswer": success_or_refusal(obj({"token": text("the client API token")}, required=("token",))),
        "MessagePage": success_or_refusal(
            obj(
                {
                    "messages": {"type": "array", "items": ref("InboxMessage")},
                    "count": {"type": "integer", "minimum": 0, "description": "the inbox's total"},
                },
                required=("messages", "count"),
            )
        ),
        "MessageDetail": success_or_refusal(
            obj({"message": ref("InboxMessageDetail")}, required=("message",))
        ),
        "Done": success_or_refusal(obj({})),
        "MessageBody": _message_body(),
        "InboxMessage": _inbox_message(with_delivery=False),
        "InboxMessageDetail": _inbox_message(with_delivery=True),
        "Delivery": _delivery(),
        "PushJson": push_fields(form=False),
        "PushForm": push_fields(form=True),
        "Login": obj(
            {"code": text("the login code from `igot user login-code`")}, required=("code",), closed=False
        ),
        "Health": obj({"status": {"const": "ok"}, "service": text()}, required=("status", "service")),
        "Readiness": obj(
            {"status": {"enum": ["ok", "unavailable"]}, "store": text(), "bus": text()},
            required=("status", "store", "bus"),
        ),
    }
