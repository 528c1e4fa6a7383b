"""Accounts in the OpenAPI document: e-mail sign-in and its link's page, login codes, the account, its
sessions, and what the desktop client asks besides (points, version)."""

from __future__ import annotations

from typing import Any

from igot.openapi.pieces import JSON, Operation, answer, operation, parameter, retry_after
from igot.openapi.schemas import Schema, obj, ref, success, success_or_refusal, text

CLIENT_AUTH: list[dict[str, list[str]]] = [{"tokenQuery": []}, {"bearerToken": []}]
EVERY_RET = "HTTP 200 for every `ret`, as existing clients expect"
TAG = "client API"
HTML = "text/html"
HEX24 = "^[0-9a-f]{24}$"


def _time(description: str = "") -> Schema:
    return text(description, format="date-time")


def _body(schema: Schema) -> Schema:
    return {
        "required": False,
        "content": {JSON: {"schema": schema}, "application/x-www-form-urlencoded": {"schema": schema}},
    }


def _client(
    method: str,
    path: str,
    operation_id: str,
    summary: str,
    data: Schema,
    *,
    throttled: bool = False,
    signed_in: bool = True,
    **extra: Any,
) -> Operation:
    response = answer(EVERY_RET, data)
    return Operation(
        method,
        path,
        operation(
            operation_id,
            summary,
            TAG,
            {"200": retry_after(response) if throttled else response},
            security=CLIENT_AUTH if signed_in else None,
            **extra,
        ),
    )


def _session() -> Schema:
    return obj(
        {
            "id": text("the session's public id (revoke it by this)", pattern=HEX24),
            "client": text("a short label made from the User-Agent, e.g. `iGot desktop`, `Chrome on macOS`"),
            "ip": text("the address it began from"),
            "createdAt": _time(),
            "lastUsed": _time("to the minute"),
            "current": {"type": "boolean", "description": "the session of this request's token"},
        },
        required=("id", "client", "ip", "createdAt", "lastUsed", "current"),
    )


def _signin_operations() -> list[Operation]:
    email = text("an e-mail address", maxLength=254)
    code = text("the 6-digit code from the mail", pattern="^[0-9]{6}$")
    link_token = parameter("token", "path", text(minLength=1), "the token of the mailed sign-in link")

    def page(operation_id: str, summary: str, statuses: dict[str, str]) -> dict[str, Any]:
        responses: dict[str, Schema] = {
            status: answer(meaning, text(), media=HTML) for status, meaning in statuses.items()
        }
        responses["404"]["content"][JSON] = {"schema": ref("Refusal")}  # no token: no route, an envelope
        return operation(operation_id, summary, "links", responses, parameters=[link_token])

    return [
        _client(
            "post",
            "/open/user/email",
            "requestSigninCode",
            "Mail a 6-digit sign-in code and a one-click link to the address (registration open: any "
            "address; closed: existing accounts only). The answer is the same whether or not the address "
            "has an account; a new code replaces the previous one. Throttled per address and per client "
            "(ret 205); not an address: ret 202.",
            success_or_refusal(
                obj(
                    {"expiresIn": {"type": "integer", "description": "seconds the code works"}},
                    required=("expiresIn",),
                )
            ),
            throttled=True,
            signed_in=False,
            body=_body(obj({"email": email}, required=("email",), closed=False)),
        ),
        _client(
            "post",
            "/open/user/email/verify",
            "verifySigninCode",
            "Sign in with the mailed code: once, within its lifetime, at most 5 tries (the last wrong one "
            "kills it). Any code that does not sign in is ret 303, no code ret 304; an address's first "
            "sign-in creates its account when registration is open. Repeated failures from one client "
            "are refused with ret 205.",
            ref("LoginAnswer"),
            throttled=True,
            signed_in=False,
            body=_body(obj({"email": email, "code": code}, required=("email", "code"), closed=False)),
        ),
        Operation(
            "get",
            "/signin/{token}",
            page(
                "signinPage",
                "The mailed sign-in link: a page whose button signs in (opening it changes nothing).",
                {"200": "the button", "404": "unknown, used or replaced link", "410": "link expired"},
            ),
        ),
        Operation(
            "post",
            "/signin/{token}",
            page(
                "signinWithLink",
                "Sign in with the link, once: the page shows a session token and a fresh login code.",
                {
                    "200": "signed in",
                    "403": "the account cannot sign in",
                    "404": "unknown, used or replaced link",
                    "410": "link expired",
                },
            ),
        ),
    ]


def _account_operations() -> list[Operation]:
    account = obj(
        {
            "id": text(pattern=HEX24),
            "email": text(),
            "key": text("the fixed push key", pattern=HEX24),
            "createdAt": _time(),
        },
        required=("id", "email", "key", "createdAt"),
    )
    overview = "The signed-in account: id, e-mail, fixed push key, created."
    sessions = obj(
        {
            "sessions": {"type": "array", "items": _session(), "description": "newest first, at most 100"},
            "count": {"type": "integer", "minimum": 0},
        },
        required=("sessions", "count"),
    )
    session_id = parameter("id", "path", text(pattern=HEX24), "the session's id")
    return [
        _client("get", "/open/user/", "account", overview, success_or_refusal(account)),
        _client("get", "/open/user", "accountNoSlash", overview, success_or_refusal(account)),
        _client("post", "/open/user/logout", "logout", "End the session of this token.", ref("Done")),
        _client(
            "post",
            "/open/user/login-code",
            "issueLoginCode",
            "A login code to sign in another client (6 letters and digits, valid 5 minutes). It ends the "
            "previous code and every session begun with it; other sessions stay.",
            success_or_refusal(
                obj(
                    {"code": text(pattern="^[0-9a-z]{6}$"), "expireAt": _time("when the code stops working")},
                    required=("code", "expireAt"),
                )
            ),
        ),
        _client(
            "get",
            "/open/user/sessions",
            "listSessions",
            "The account's live sessions.",
            success_or_refusal(sessions),
        ),
        _client(
            "post",
            "/open/user/sessions/{id}/revoke",
            "revokeSession",
            "End one of the account's sessions (ret 203 for any other id).",
            ref("Done"),
            parameters=[session_id],
        ),
        _client(
            "post",
            "/open/user/sessions/revoke-others",
            "revokeOtherSessions",
            "End every session of the account but this one.",
            success_or_refusal(obj({"revoked": {"type": "integer", "minimum": 0}}, required=("revoked",))),
        ),
    ]


def _desktop_client_operations() -> list[Operation]:
    version = obj(
        {
            "version": obj(
                {
                    "version": text("the client's current version"),
                    "intro": text("what it brings"),
                    "url": obj(
                        {"mac": text(format="uri"), "win": text(format="uri")}, required=("mac", "win")
                    ),
                },
                required=("version", "intro", "url"),
            )
        },
        required=("version",),
    )
    return [
        _client(
            "get",
            "/open/user/info",
            "userInfo",
            "For the desktop client: a self-hosted account has no points and every feature.",
            success_or_refusal(
                obj({"balance": {"const": 0}, "vip": {"const": True}}, required=("balance", "vip"))
            ),
        ),
        _client(
            "get",
            "/open/jpoint/plans",
            "pointPlans",
            "For the desktop client: no plans to exchange points for.",
            success_or_refusal(obj({"plans": {"type": "array", "maxItems": 0}}, required=("plans",))),
        ),
        _client(
            "get",
            "/open/jpoint/balance",
            "pointBalance",
            "For the desktop client: no points.",
            success_or_refusal(obj({"balance": {"const": 0}}, required=("balance",))),
        ),
        _client(
            "post",
            "/open/jpoint/exchange",
            "exchangePoints",
            "For the desktop client: always refused with ret 208 (no points on a self-hosted server).",
            ref("Refusal"),
        ),
        Operation(
            "get",
            "/client/version/",
            operation(
                "clientVersion",
                "The desktop client's current version and downloads (from the settings); no token.",
                TAG,
                {"200": answer("the version", success(version))},
                parameters=[parameter("st", "query", text(), "ignored (the client's cache buster)")],
            ),
        ),
    ]


def account_operations() -> list[Operation]:
    return [*_signin_operations(), *_account_operations(), *_desktop_client_operations()]
