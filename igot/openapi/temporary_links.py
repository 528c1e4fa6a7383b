"""Temporary links in the OpenAPI document: the `/open/link/temporary` API and the QR code of a link."""

from __future__ import annotations

from typing import Any

from igot.openapi.pieces import JSON, Operation, answer, operation, page_parameters, parameter
from igot.openapi.schemas import HEX24, Schema, obj, ref, success_or_refusal, text
from services.auth.temporary_links import MAX_NAME_LENGTH

TAG = "temporary links"
TAG_DESCRIPTION = (
    "Push keys to hand out: named (messages carry the name as `source`), valid 90 days by default, "
    "paused, resumed, renamed or deleted by their owner; as the inbox, token in `?token=` or a bearer."
)
CLIENT_AUTH: list[dict[str, list[str]]] = [{"tokenQuery": []}, {"bearerToken": []}]
EVERY_RET = "HTTP 200 for every `ret`, as existing clients expect"
NOT_OWNER = "someone else's key, a deleted link or no link at all is ret 203, alike"


def temporary_link_tag() -> dict[str, str]:
    return {"name": TAG, "description": TAG_DESCRIPTION}


def _name(description: str) -> Schema:
    named = obj(
        {"name": text(description, minLength=1, maxLength=MAX_NAME_LENGTH)},
        required=("name",),
        closed=False,
    )
    return {
        "required": False,
        "content": {JSON: {"schema": named}, "application/x-www-form-urlencoded": {"schema": named}},
    }


def _link() -> Schema:
    return obj(
        {
            "key": text("the push key: send to `/{key}/…`", pattern=HEX24),
            "name": text("shown as the `source` of its messages"),
            "status": {"enum": ["active", "paused", "expired"]},
            "expireAt": text("when it stops working, UTC", format="date-time"),
            "messages": {"type": "integer", "minimum": 0, "description": "messages sent through it"},
            "lastUsed": {
                "oneOf": [text(format="date-time"), {"type": "null"}],
                "description": "when the latest message was sent through it; null if none was",
            },
        },
        required=("key", "name", "status", "expireAt", "messages", "lastUsed"),
    )


def _client(method: str, path: str, operation_id: str, summary: str, data: Schema, **extra: Any) -> Operation:
    return Operation(
        method,
        path,
        operation(
            operation_id, summary, TAG, {"200": answer(EVERY_RET, data)}, security=CLIENT_AUTH, **extra
        ),
    )


def _key() -> Schema:
    return parameter("key", "path", text(pattern=HEX24), "the link's push key")


def _change(action: str, summary: str) -> Operation:
    return _client(
        "post",
        f"/open/link/temporary/{{key}}/{action}",
        f"{action}TemporaryLink",
        f"{summary} After it, pushes through the link are answered at once as it now is. {NOT_OWNER}.",
        ref("Done"),
        parameters=[_key()],
    )


def _qr_code() -> Operation:
    png_or_refusal = answer("the PNG, never cached; a refusal is the envelope, as ever")
    png_or_refusal["content"] = {
        "image/png": {"schema": {"type": "string", "format": "binary"}},
        JSON: {"schema": ref("Refusal")},
    }
    spec = operation(
        "temporaryLinkQrCode",
        f"A QR code of the link's send URL (`{{IGOT_PUBLIC_URL}}/{{key}}/`), for its owner. The token "
        f"goes in `?token=`, as an `<img src>` can send nothing else. {NOT_OWNER}.",
        TAG,
        {"200": png_or_refusal},
        parameters=[_key()],
        security=CLIENT_AUTH,
    )
    return Operation("get", "/open/link/temporary/{key}/qr.png", spec)


def temporary_link_operations() -> list[Operation]:
    page = page_parameters()
    created = obj(
        {
            "key": text("the new push key", pattern=HEX24),
            "expireAt": text("when it stops working, UTC", format="date-time"),
        },
        required=("key", "expireAt"),
    )
    listing = obj(
        {
            "links": {"type": "array", "items": _link()},
            "count": {"type": "integer", "minimum": 0, "description": "the user's links but deleted ones"},
        },
        required=("links", "count"),
    )
    return [
        _client(
            "post",
            "/open/link/temporary",
            "createTemporaryLink",
            "Create a temporary link: a new push key, valid `IGOT_TEMPORARY_LINK_TTL_DAYS` days. The name "
            "is trimmed, one line; more links than `IGOT_TEMPORARY_LINKS_PER_USER` that are neither "
            "deleted nor expired is ret 208.",
            success_or_refusal(created),
            body=_name(f"1 to {MAX_NAME_LENGTH} characters on one line"),
        ),
        _client(
            "get",
            "/open/link/temporary",
            "listTemporaryLinks",
            "A page of the user's temporary links (deleted ones are not listed), newest first, each with "
            "the number of messages sent through it and when the latest was.",
            success_or_refusal(listing),
            parameters=page,
        ),
        _change("pause", "Pause an active link (else ret 208): pushes through it get ret 204, HTTP 403."),
        _change("resume", "Resume a paused link (else ret 208)."),
        _change(
            "delete",
            "Delete a link, expired ones too: pushes through it get ret 204, HTTP 410, and it is no "
            "longer listed.",
        ),
        _client(
            "post",
            "/open/link/temporary/{key}/rename",
            "renameTemporaryLink",
            "Rename an active or paused link (an expired one is ret 208); messages sent after it carry "
            f"the new name as `source`. {NOT_OWNER}.",
            ref("Done"),
            parameters=[_key()],
            body=_name(f"the new name: 1 to {MAX_NAME_LENGTH} characters on one line"),
        ),
        _qr_code(),
    ]
