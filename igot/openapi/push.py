"""Push ingress in the OpenAPI document: the four ways to push and every refusal with its status."""

from __future__ import annotations

from typing import Literal

from igot.openapi.pieces import JSON, Operation, answer, operation, parameter, retry_after
from igot.openapi.schemas import HEX24, Schema, component_schemas, ref, text
from shared.envelope import Ret

# Push ingress answers a refusal with a matching HTTP status (so `curl -f` fails), each with its `ret`.
PUSH_REFUSALS: dict[int, tuple[str, Ret]] = {
    400: ("invalid parameter or body", Ret.INVALID),
    403: ("key paused", Ret.KEY_INACTIVE),
    404: ("unknown push key", Ret.NOT_FOUND),
    405: ("method not allowed", Ret.INVALID),
    410: ("key expired or deleted", Ret.KEY_INACTIVE),
    413: ("body over `IGOT_MAX_BODY_BYTES`", Ret.INVALID),
    422: ("idempotency key reused with different content", Ret.INVALID),
    429: ("rate limited", Ret.RATE_LIMITED),
    503: ("store unavailable, retry later", Ret.UNAVAILABLE),
}
PUSH_QUERY = ("title", "url", "automaticallyCopy", "copy", "topic", "idempotencyKey", "level")


def _push_responses(*, with_body: bool = False) -> dict[str, Schema]:
    responses = {"200": answer("accepted: durably stored, delivered from here on", ref("PushAccepted"))}
    refusals = dict(PUSH_REFUSALS)
    if with_body:
        refusals[408] = ("body not received within `IGOT_HTTP_BODY_TIMEOUT_SECONDS`", Ret.INVALID)
    for status, (meaning, ret) in sorted(refusals.items()):
        responses[str(status)] = answer(f"{meaning} (ret {int(ret)})", ref("Refusal"))
    retry_after(responses["429"])
    return responses


def _push_query(*, content: Literal["required", "optional", "absent"]) -> list[Schema]:
    """The push fields as query parameters; `content` is required where nothing else can carry it."""
    fields = component_schemas()["PushForm"]["properties"]
    listed = [
        parameter(name, "query", fields[name], fields[name].get("description", "")) for name in PUSH_QUERY
    ]
    if content == "absent":
        return listed
    text_field = fields["content"]
    required = content == "required"
    return [parameter("content", "query", text_field, text_field["description"], required=required), *listed]


def _key() -> Schema:
    return parameter("key", "path", text(pattern=HEX24), "the push key (a bearer secret: keep it private)")


def _idempotency() -> Schema:
    return parameter(
        "Idempotency-Key",
        "header",
        text(maxLength=128),
        "a retried send with the same key and content answers the first message's id; with other "
        "content it is refused with HTTP 422",
    )


def push_operations() -> list[Operation]:
    note = "Fields iGot does not know are kept as `extra` and shown to the receiver."
    common = [_key(), _idempotency()]
    path_part = text(minLength=1)
    return [
        Operation(
            "get",
            "/{key}",
            operation(
                "pushQuery",
                "Push with every field in the query. " + note,
                "push",
                _push_responses(),
                parameters=[*common, *_push_query(content="required")],
            ),
        ),
        Operation(
            "post",
            "/{key}",
            operation(
                "pushBody",
                "Push with a JSON object or a form (query fields count too). " + note,
                "push",
                _push_responses(with_body=True),
                parameters=[*common, *_push_query(content="optional")],
                body={
                    "required": False,
                    "content": {
                        JSON: {"schema": ref("PushJson")},
                        "application/x-www-form-urlencoded": {"schema": ref("PushForm")},
                        "multipart/form-data": {"schema": ref("PushForm")},
                    },
                },
            ),
        ),
        Operation(
            "get",
            "/{key}/{content}",
            operation(
                "pushContent",
                "Push the URL-decoded path part as content. " + note,
                "push",
                _push_responses(),
                parameters=[
                    *common,
                    parameter("content", "path", path_part, "the message"),
                    *_push_query(content="absent"),
                ],
            ),
        ),
        Operation(
            "get",
            "/{key}/{title}/{content}",
            operation(
                "pushTitleContent",
                "Push a title and content from the URL-decoded path parts. " + note,
                "push",
                _push_responses(),
                parameters=[
                    *common,
                    parameter("title", "path", path_part, "the title"),
                    parameter("content", "path", path_part, "the message"),
                    *_push_query(content="absent"),
                ],
            ),
        ),
    ]
