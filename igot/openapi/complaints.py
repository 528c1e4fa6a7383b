"""A receiver's complaint about a message in the OpenAPI document (`POST /open/message/{id}/complaint`)."""

from __future__ import annotations

from igot.openapi.pieces import JSON, Operation, answer, operation, parameter
from igot.openapi.schemas import Schema, obj, ref, text
from services.gateway.complaints import MAX_REASON_LENGTH

CLIENT_AUTH: list[dict[str, list[str]]] = [{"tokenQuery": []}, {"bearerToken": []}]
EVERY_RET = "HTTP 200 for every `ret`, as existing clients expect"


def _reason() -> Schema:
    return text("why the message is unwanted (optional)", maxLength=MAX_REASON_LENGTH)


def complaint_operations() -> list[Operation]:
    fields = obj({"reason": _reason()}, closed=False)
    body = {"schema": fields}
    return [
        Operation(
            "post",
            "/open/message/{id}/complaint",
            operation(
                "complainAboutMessage",
                "Complain about a message from a group link: stored once per receiver (a repeat is ret 0 "
                "and changes nothing) and queued for an operator's review; when enough receivers "
                "complain about one link within the window (`IGOT_MODERATION_COMPLAINTS_TO_PAUSE`, "
                "`IGOT_MODERATION_COMPLAINT_WINDOW_HOURS`), the link is closed. A message through the "
                "receiver's own key or own link is ret 208; an unknown id ret 203; a reason that is not "
                f"text of at most {MAX_REASON_LENGTH} characters ret 202.",
                "client API",
                {"200": answer(EVERY_RET, ref("Done"))},
                parameters=[
                    parameter("id", "path", text(), "the inbox entry's id"),
                    parameter("reason", "query", _reason(), "the reason, as the body may give it too"),
                ],
                body={
                    "required": False,
                    "content": {JSON: body, "application/x-www-form-urlencoded": body},
                },
                security=CLIENT_AUTH,
            ),
        )
    ]
