"""ServerChan (Server酱 Turbo): `GET|POST /<SendKey>.send` with `title` (or the older `text`) and `desp`.

ServerChan requires a title and takes a Markdown body in `desp`; here a message may also be a body
alone (its first line becomes the title) or a title alone (it becomes the content). `desp` is stored
as Markdown (`format: markdown`); ServerChan's other options (`short`, `channel`, `openid`, `noip`,
`tags`) mean nothing to iGot and are kept as `extra`, as unknown fields of native pushes are.

Answers keep ServerChan's shape. Success, HTTP 200:
`{"code": 0, "message": "", "data": {"pushid": <message id>, "readkey": "", "error": "SUCCESS", "errno": 0}}`
(there is no read key: the inbox is read with a client token). A refusal has the HTTP status native
ingress would give it and `{"code", "message": "[KIND]reason", "info": reason}`, codes as ServerChan's
where it has one: 40001 the key (unknown, paused, expired, deleted, account disabled), 40003 rate
limited, 20001 any other problem of the request, 50001 the server's (retry later).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.gateway.compat.fields import headed, lead_line, text_of, without
from services.gateway.push_fields import EVERY_FORMAT, parse_push
from shared.envelope import ApiError, Ret, invalid
from shared.models import PushRequest

READ = ("title", "text", "desp")
INPUT, KEY, LIMIT, SERVER = 20001, 40001, 40003, 50001
_KINDS = {INPUT: "INPUT", KEY: "AUTH", LIMIT: "LIMIT", SERVER: "SERVER"}
_KEY_RETS = {Ret.NOT_FOUND, Ret.KEY_INACTIVE, Ret.FORBIDDEN, Ret.WRONG_STATE}


def read_push(fields: Mapping[str, Any], *, idempotency_header: str | None) -> PushRequest:
    title = text_of(fields, "title")
    if title is None or not title.strip():
        title = text_of(fields, "text") or ""
    desp = text_of(fields, "desp") or ""
    native = without(fields, READ)
    if desp.strip():
        native.update(headed(title if title.strip() else lead_line(desp), desp))
        native["format"] = "markdown"
    elif title.strip():
        native.update(headed(title, ""))
        native["format"] = "text"
    else:
        raise invalid("title is required")
    return parse_push(native, idempotency_header=idempotency_header, formats=EVERY_FORMAT)


def accepted(message_id: str) -> dict[str, Any]:
    return {
        "code": 0,
        "message": "",
        "data": {"pushid": message_id, "readkey": "", "error": "SUCCESS", "errno": 0},
    }


def refused(error: ApiError) -> dict[str, Any]:
    code = refusal_code(error.ret)
    return {"code": code, "message": f"[{_KINDS[code]}]{error.reason}", "info": error.reason}


def refusal_code(ret: Ret) -> int:
    if ret in _KEY_RETS:
        return KEY
    if ret == Ret.RATE_LIMITED:
        return LIMIT
    return INPUT if 200 <= ret < 300 else SERVER
