"""The response envelope and the status words of the API, in one place.

Every JSON answer is `{"ret": int, "data": {...}, "errMsg": str}`. `/open/` and `/access/` answer HTTP 200
for every `ret` (compatibility with existing clients); push ingress also sets a matching HTTP status so
that `curl -f` fails on errors.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class Ret(IntEnum):
    OK = 0
    LOGIN_STATE = 101
    UNAVAILABLE = 102
    SERVER_ERROR = 201
    INVALID = 202
    NOT_FOUND = 203
    KEY_INACTIVE = 204
    RATE_LIMITED = 205
    REJECTED = 206
    FORBIDDEN = 207
    WRONG_STATE = 208
    TOKEN_EMPTY = 300
    TOKEN_WRONG = 301
    TOKEN_EXPIRED = 302
    CODE_INVALID = 303
    CODE_EMPTY = 304
    ACCESS_TOKEN_INVALID = 305
    APP_SECRET_WRONG = 306


class ApiError(Exception):
    """A refusal the caller should see: its `ret`, a reason, and the HTTP status push ingress uses."""

    def __init__(
        self, ret: Ret, reason: str, *, http_status: int = 400, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(reason)
        self.ret = ret
        self.reason = reason
        self.http_status = http_status
        self.headers = headers or {}  # e.g. `Retry-After` on a rate-limited answer


def invalid(reason: str) -> ApiError:
    return ApiError(Ret.INVALID, reason, http_status=400)


def not_found(reason: str = "not found") -> ApiError:
    return ApiError(Ret.NOT_FOUND, reason, http_status=404)


def rejected_by_moderation(category: str | None) -> ApiError:
    """206: moderation rejected the message; the reason names its category."""
    return ApiError(Ret.REJECTED, f"rejected by moderation: {category or 'unspecified'}", http_status=403)


def rate_limited(reason: str, *, retry_after_seconds: int) -> ApiError:
    """205 / HTTP 429 with `Retry-After` (whole seconds, at least 1)."""
    return ApiError(
        Ret.RATE_LIMITED,
        reason,
        http_status=429,
        headers={"Retry-After": str(max(1, retry_after_seconds))},
    )


def unavailable(reason: str = "service unavailable, retry later") -> ApiError:
    return ApiError(Ret.UNAVAILABLE, reason, http_status=503)


def envelope(
    data: dict[str, Any] | None = None, *, ret: int = Ret.OK, err_msg: str = "success"
) -> dict[str, Any]:
    return {"ret": int(ret), "data": data if data is not None else {}, "errMsg": err_msg}


def error_envelope(error: ApiError) -> dict[str, Any]:
    return envelope(ret=error.ret, err_msg=error.reason)
