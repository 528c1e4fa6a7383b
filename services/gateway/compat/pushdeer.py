"""PushDeer: `GET|POST /message/push` with `pushkey`, `text`, `desp` and `type`.

`pushkey` may name several keys separated by commas (at most `IGOT_DROPIN_MAX_KEYS`); each gets its own
message. `type` is PushDeer's: `markdown` (its default), `text`, or `image`, where `text` is the image's
address (stored as the content and as `url`, `format: image`; `desp` is kept as `extra`). Otherwise
`text` is the title and `desp` the body, or `text` alone the body.

Answers keep PushDeer's shape. Success, HTTP 200: `{"code": 0, "content": {"result": [...]}}`, one
result per key, each a JSON text as PushDeer's push gateway writes them:
`{"counts": 1, "logs": [], "success": "ok", "id": <message id>}`, or for a key refused while others
were accepted `{"counts": 0, "logs": [reason], "success": "failed"}`. A refusal of the whole request
(bad fields, or every key refused) has the HTTP status native ingress would give it and
`{"code": <PushDeer error code>, "error": reason}`: 80403 the key, 80501 any other problem of the
request, 80999 the server's (retry later).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.gateway.compat.fields import headed, push_keys, text_of, without
from services.gateway.push_fields import EVERY_FORMAT, parse_push
from shared.envelope import ApiError, Ret, invalid
from shared.http_json import dumps
from shared.models import PushRequest

TYPES = ("markdown", "text", "image")
KEY, ARGS, OTHER = 80403, 80501, 80999
_KEY_RETS = {Ret.NOT_FOUND, Ret.KEY_INACTIVE, Ret.FORBIDDEN, Ret.WRONG_STATE}


def read_keys(fields: Mapping[str, Any], *, most: int) -> list[str]:
    value = fields.get("pushkey")
    if value is not None and not isinstance(value, str):
        raise invalid("pushkey must be text")  # as PushDeer: keys separated by commas, in one text
    return push_keys(value, name="pushkey", most=most)


def read_push(fields: Mapping[str, Any], *, idempotency_header: str | None) -> PushRequest:
    text = text_of(fields, "text") or ""
    if not text.strip():
        raise invalid("text is required")
    desp = text_of(fields, "desp") or ""
    kind = (text_of(fields, "type") or "markdown").strip().lower() or "markdown"
    if kind not in TYPES:
        raise invalid(f"type must be one of: {', '.join(TYPES)}")
    if kind == "image":
        native = without(fields, ("pushkey", "text", "type"))
        native.update(content=text.strip(), url=text.strip(), format="image")
    else:
        native = without(fields, ("pushkey", "text", "desp", "type"))
        native.update(headed(text, desp), format=kind)
    return parse_push(native, idempotency_header=idempotency_header, formats=EVERY_FORMAT)


def accepted(outcomes: list[str | ApiError]) -> dict[str, Any]:
    """The answer once at least one key was accepted (`str`: its message id)."""
    return {"code": 0, "content": {"result": [_result(outcome) for outcome in outcomes]}}


def _result(outcome: str | ApiError) -> str:
    if isinstance(outcome, ApiError):
        return dumps({"counts": 0, "logs": [outcome.reason], "success": "failed"})
    return dumps({"counts": 1, "logs": [], "success": "ok", "id": outcome})


def refused(error: ApiError) -> dict[str, Any]:
    return {"code": refusal_code(error.ret), "error": error.reason}


def refusal_code(ret: Ret) -> int:
    if ret in _KEY_RETS:
        return KEY
    return ARGS if 200 <= ret < 300 else OTHER
