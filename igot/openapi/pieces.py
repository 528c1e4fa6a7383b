"""Small builders for the OpenAPI document: an operation, a parameter, a documented answer.

Every operation takes the trace id header, and every one lists the refusals the server makes before any
route sees the request, so no builder of a route can forget them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from igot.openapi.schemas import Schema, ref, text
from shared.paging import MAX_PAGE_SIZE

JSON = "application/json"
TRACE_ID = {"$ref": "#/components/parameters/TraceId"}


@dataclass(frozen=True)
class Operation:
    """One (method, path) of the document, with its OpenAPI operation object."""

    method: str
    path: str
    spec: dict[str, Any] = field(hash=False, compare=False)


def _trace_header() -> Schema:
    return {"description": "the request's trace id, as sent when sane, else a fresh one", "schema": text()}


def answer(description: str, schema: Schema | None = None, *, media: str = JSON) -> Schema:
    """One documented answer; every answer echoes the trace id."""
    response: Schema = {"description": description, "headers": {"X-Trace-Id": _trace_header()}}
    if schema is not None:
        response["content"] = {media: {"schema": schema}}
    return response


def parameter(name: str, where: str, schema: Schema, description: str, *, required: bool = False) -> Schema:
    return {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "description": description,
        "schema": schema,
    }


def operation(
    operation_id: str,
    summary: str,
    tag: str,
    responses: dict[str, Schema],
    *,
    parameters: list[Schema] | None = None,
    body: Schema | None = None,
    security: list[dict[str, list[str]]] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "tags": [tag],
        "parameters": [*(parameters or []), TRACE_ID],
        "responses": dict(
            sorted({**_protocol_refusals(), **responses}.items(), key=lambda item: int(item[0]))
        ),
    }
    if body is not None:
        spec["requestBody"] = body
    if security is not None:
        spec["security"] = security
    return spec


def _protocol_refusals() -> dict[str, Schema]:
    """Requests the server refuses before any route sees them, on every path (`/open/` included)."""
    refusals = {
        "400": "malformed HTTP request",
        "414": "request line over the server's limit",
        "431": "a request header, or the headers together, over the server's limit",
    }
    return {status: answer(f"{meaning} (ret 202)", ref("Refusal")) for status, meaning in refusals.items()}


def retry_after(response: Schema) -> Schema:
    """A throttled answer says when to try again."""
    response["headers"]["Retry-After"] = {
        "description": "seconds to wait, on a rate-limited answer",
        "schema": {"type": "integer", "minimum": 0},
    }
    return response


def page_parameters() -> list[Schema]:
    """`index` and `size` of a paged list (`shared.paging`)."""
    return [
        parameter("index", "query", {"type": "integer", "minimum": 1}, "page number, from 1 (default 1)"),
        parameter(
            "size",
            "query",
            {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
            f"page size, at most {MAX_PAGE_SIZE} (default 20)",
        ),
    ]
