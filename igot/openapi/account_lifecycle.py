"""The account's own data in the OpenAPI document: export everything, delete the account (by a code)."""

from __future__ import annotations

from igot.openapi.pieces import JSON, Operation, answer, operation, retry_after
from igot.openapi.schemas import Schema, obj, ref, success_or_refusal, text

CLIENT_AUTH: list[dict[str, list[str]]] = [{"tokenQuery": []}, {"bearerToken": []}]
EVERY_RET = "HTTP 200 for every `ret`, as existing clients expect"
TAG = "client API"


def _time(description: str = "") -> Schema:
    return {
        "type": ["string", "null"],
        "format": "date-time",
        **({"description": description} if description else {}),
    }


def _export() -> Schema:
    account = obj(
        {
            "id": text(),
            "email": text(),
            "key": text("the fixed push key"),
            "status": {"enum": ["active", "disabled", "deleting"]},
            "createdAt": _time(),
        },
        required=("id", "email", "key", "status", "createdAt"),
    )
    link = obj(
        {
            "key": text("the temporary key"),
            "name": text("the `source` its messages carry"),
            "status": {"enum": ["active", "paused", "expired", "deleted"]},
            "createdAt": _time(),
            "expireAt": _time(),
        },
        required=("key", "name", "status", "createdAt", "expireAt"),
    )
    session = obj(
        {
            "id": text("the session's public id"),
            "client": text("from the User-Agent"),
            "ip": text("where it signed in from"),
            "origin": text("how it began"),
            "createdAt": _time(),
            "lastUsed": _time(),
            "expiresAt": _time(),
        },
        required=("id", "createdAt", "lastUsed", "expiresAt"),
    )
    ways = {
        "type": "object",
        "description": "`orders`, and each way's settings as bound (signing secrets and unsubscribe "
        "tokens left out)",
    }
    return obj(
        {
            "account": account,
            "pushWays": ways,
            "temporaryLinks": {"type": "array", "items": link},
            "sessions": {"type": "array", "items": session, "description": "never the tokens themselves"},
            "messages": {
                "type": "array",
                "items": ref("InboxMessage"),
                "description": "the inbox, newest first",
            },
            "exportedAt": _time(),
        },
        required=("account", "pushWays", "temporaryLinks", "sessions", "messages", "exportedAt"),
    )


def _deletion_answer() -> Schema:
    return obj(
        {
            "confirm": text("without `code`: the code was mailed to the account's address"),
            "expireAt": _time("until when the code confirms"),
            "deleted": {"const": True, "description": "with the right `code`: the account is closed"},
            "message": text(),
        }
    )


def account_lifecycle_operations() -> list[Operation]:
    code = obj(
        {
            "code": {
                "type": ["string", "integer"],
                "description": "the 6-digit code mailed to the account; leave out to have one mailed",
            }
        },
        closed=False,
    )
    return [
        Operation(
            "get",
            "/open/user/export",
            operation(
                "exportAccount",
                "Everything iGot holds about the account, as one JSON document (a download, "
                "`igot-export.json`): account, push ways, temporary links, sessions, every inbox message.",
                TAG,
                {"200": answer(EVERY_RET, success_or_refusal(_export()))},
                security=CLIENT_AUTH,
            ),
        ),
        Operation(
            "post",
            "/open/user/delete",
            operation(
                "deleteAccount",
                "Delete the account. Without `code`: a 6-digit code is mailed to the account (valid 10 "
                "minutes by default; ret 205 when one was sent recently). With the right `code`: every "
                "key stops at once (pushes answer 204 / HTTP 410), every session ends, and the data is "
                "removed in the background; a wrong or expired code is ret 303, and after 5 wrong tries "
                "the code is dead.",
                TAG,
                {"200": retry_after(answer(EVERY_RET, success_or_refusal(_deletion_answer())))},
                body={
                    "required": False,
                    "content": {
                        JSON: {"schema": code},
                        "application/x-www-form-urlencoded": {"schema": code},
                    },
                },
                security=CLIENT_AUTH,
            ),
        ),
    ]
