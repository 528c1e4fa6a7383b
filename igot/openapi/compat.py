"""Drop-in compatibility in the OpenAPI document: ServerChan, PushDeer and Bark push requests, answered in
each one's own shape, and the desktop client's delete of one inbox message."""

from __future__ import annotations

from igot.openapi.pieces import JSON, Operation, answer, operation, parameter, retry_after
from igot.openapi.schemas import HEX24, Schema, obj, ref, text
from services.gateway.compat import pushdeer, serverchan
from services.gateway.compat.pushdeer import TYPES

CLIENT_AUTH: list[dict[str, list[str]]] = [{"tokenQuery": []}, {"bearerToken": []}]
FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")

# A refusal has the HTTP status native push ingress gives it, in the dialect's shape.
REFUSALS: dict[int, str] = {
    400: "invalid fields or body",
    403: "key paused, or its account disabled",
    404: "unknown push key",
    410: "key expired or deleted, or its account deleted",
    422: "idempotency key reused with different content",
    429: "rate limited",
    503: "store unavailable, retry later",
}
BODY_REFUSALS: dict[int, str] = {
    408: "body not received within `IGOT_HTTP_BODY_TIMEOUT_SECONDS`",
    413: "body over `IGOT_MAX_BODY_BYTES`",
}
INTEGER: Schema = {"type": "integer"}


def _responses(success: Schema, refusal: Schema, *, with_body: bool) -> dict[str, Schema]:
    responses = {"200": answer("accepted, in the dialect's shape", success)}
    refusals = {**REFUSALS, **(BODY_REFUSALS if with_body else {})}
    for status, meaning in sorted(refusals.items()):
        schema = refusal
        if status in (400, 404):
            # A request unreadable before routing, or a path no route serves, is answered with the envelope.
            schema = {"oneOf": [refusal, ref("Refusal")]}
        responses[str(status)] = answer(meaning, schema)
    retry_after(responses["429"])
    return responses


def _idempotency() -> Schema:
    return parameter(
        "Idempotency-Key",
        "header",
        text(maxLength=128),
        "a retried send with the same key and content answers the first message's id",
    )


def _query(fields: dict[str, Schema], *, required: tuple[str, ...] = ()) -> list[Schema]:
    return [
        parameter(name, "query", schema, schema.get("description", ""), required=name in required)
        for name, schema in fields.items()
    ]


def _body(fields: dict[str, Schema], *, required: tuple[str, ...] = ()) -> Schema:
    schema = obj(fields, required=required, closed=False)
    return {"required": False, "content": {media: {"schema": schema} for media in (JSON, *FORMS)}}


def _serverchan() -> list[Operation]:
    fields = {
        "title": text("the title (ServerChan requires it; without it, the first line of `desp`)"),
        "text": text("the title, as older ServerChan scripts name it"),
        "desp": text("the body, Markdown"),
        "short": text("kept as `extra`"),
        "channel": text("kept as `extra`"),
        "openid": text("kept as `extra`"),
        "noip": text("kept as `extra`"),
    }
    success = obj(
        {
            "code": {"const": 0},
            "message": text(),
            "data": obj(
                {
                    "pushid": text("the message's id in the inbox", pattern=HEX24),
                    "readkey": text("always empty"),
                    "error": {"const": "SUCCESS"},
                    "errno": {"const": 0},
                },
                required=("pushid", "readkey", "error", "errno"),
            ),
        },
        required=("code", "message", "data"),
    )
    codes = [serverchan.INPUT, serverchan.KEY, serverchan.LIMIT, serverchan.SERVER]
    refusal = obj(
        {
            "code": {
                "enum": codes,
                "description": "20001 input, 40001 key, 40003 rate limited, 50001 server",
            },
            "message": text("`[KIND]reason`"),
            "info": text("the reason"),
        },
        required=("code", "message", "info"),
    )
    key = parameter("key", "path", text(minLength=1), "an iGot push key, where the SendKey was")
    summary = "ServerChan's send: title and Markdown `desp`; answered in ServerChan's shape."
    return [
        Operation(
            "get",
            "/{key}.send",
            operation(
                "serverchanSendQuery",
                summary,
                "push",
                _responses(success, refusal, with_body=False),
                parameters=[key, _idempotency(), *_query(fields)],
            ),
        ),
        Operation(
            "post",
            "/{key}.send",
            operation(
                "serverchanSend",
                summary + " Fields in the query, a JSON object or a form.",
                "push",
                _responses(success, refusal, with_body=True),
                parameters=[key, _idempotency(), *_query(fields)],
                body=_body(fields),
            ),
        ),
    ]


def _pushdeer() -> list[Operation]:
    fields = {
        "pushkey": text("iGot push keys, separated by commas (at most `IGOT_DROPIN_MAX_KEYS`)"),
        "text": text("the title (with `desp`) or the body; for `type=image`, the image's http(s) address"),
        "desp": text("the body"),
        "type": {"enum": list(TYPES), "description": "how the body reads; default `markdown`"},
    }
    success = obj(
        {
            "code": {"const": 0},
            "content": obj(
                {
                    "result": {
                        "type": "array",
                        "items": text(
                            'one per key, a JSON text: `{"counts":1,"logs":[],"success":"ok","id":…}`, '
                            'or `{"counts":0,"logs":[reason],"success":"failed"}` for a refused key'
                        ),
                    }
                },
                required=("result",),
            ),
        },
        required=("code", "content"),
    )
    refusal = obj(
        {
            "code": {
                "enum": [pushdeer.KEY, pushdeer.ARGS, pushdeer.OTHER],
                "description": "80403 key, 80501 request, 80999 server",
            },
            "error": text("the reason"),
        },
        required=("code", "error"),
    )
    summary = "PushDeer's push: one message per key; answered in PushDeer's shape."
    return [
        Operation(
            "get",
            "/message/push",
            operation(
                "pushdeerPushQuery",
                summary,
                "push",
                _responses(success, refusal, with_body=False),
                parameters=[_idempotency(), *_query(fields, required=("pushkey", "text"))],
            ),
        ),
        Operation(
            "post",
            "/message/push",
            operation(
                "pushdeerPush",
                summary + " Fields in the query, a JSON object or a form.",
                "push",
                _responses(success, refusal, with_body=True),
                parameters=[_idempotency(), *_query(fields)],
                body=_body(fields),
            ),
        ),
    ]


def _bark() -> list[Operation]:
    fields = {
        "device_key": text("an iGot push key"),
        "device_keys": {
            "type": ["array", "string"],
            "items": text(),
            "description": "several iGot push keys (an array, or separated by commas): one message each",
        },
        "title": text("the title"),
        "body": text("the content"),
        "markdown": text("the content, Markdown (instead of `body`)"),
        "subtitle": text("kept as `extra`; the content when there is no `body`"),
        "url": text("an http(s) address opened from the message", format="uri"),
        "copy": text("text to copy, shown as `copyText`"),
        "autoCopy": {"enum": ["0", "1", 0, 1], "description": "1: copy on arrival"},
        "group": text("kept as `extra`, as every other Bark option"),
        "level": text("kept as `extra`"),
        "sound": text("kept as `extra`"),
        "icon": text("kept as `extra`"),
    }
    per_key = obj({"code": INTEGER, "device_key": text(), "message": text()}, required=("code", "device_key"))
    success = obj(
        {
            "code": {"const": 200},
            "message": {"const": "success"},
            "timestamp": INTEGER,
            "data": {"type": "array", "items": per_key, "description": "with `device_keys`: each key's"},
        },
        required=("code", "message", "timestamp"),
    )
    refusal = obj(
        {"code": INTEGER, "message": text("the reason"), "timestamp": INTEGER},
        required=("code", "message", "timestamp"),
    )
    return [
        Operation(
            "post",
            "/push",
            operation(
                "barkPush",
                "Bark's push (`device_key` is an iGot push key); answered in Bark's shape.",
                "push",
                _responses(success, refusal, with_body=True),
                parameters=[_idempotency()],
                body=_body(fields),
            ),
        )
    ]


def _message_delete() -> Operation:
    return Operation(
        "post",
        "/open/message/delete/{id}",
        operation(
            "deleteMessage",
            "Delete one message from the inbox (ret 203 when the user has no such message).",
            "client API",
            {"200": answer("HTTP 200 for every `ret`, as existing clients expect", ref("Done"))},
            parameters=[parameter("id", "path", text(), "the inbox entry's id")],
            security=CLIENT_AUTH,
        ),
    )


def compat_operations() -> list[Operation]:
    return [*_serverchan(), *_pushdeer(), *_bark(), _message_delete()]
