"""JSON in and out of the HTTP API: request bodies and URLs as fields, answers as envelopes.

One place decides what a request may carry and how an answer is written, so every service parses and
answers alike. What a body or a URL may hold, whatever its form:

- text is UTF-8, strictly: undecodable bytes, percent-escapes that do not decode as UTF-8 and lone
  surrogate escapes (`"\\ud800"`) are refused, never replaced by U+FFFD or stored as something the sender
  did not write (and a lone surrogate cannot be encoded for any store);
- JSON is an object whose numbers are finite (`NaN`, `Infinity` and overflowing literals such as `1e400`
  are not JSON and make answers unreadable to strict clients) and whose objects and arrays nest at most
  `MAX_DEPTH` levels, checked on the text before parsing so no parser recursion depends on the
  interpreter's stack;
- a multipart form has a boundary, parts with a form-data name, text only (no files), in UTF-8, without
  transfer or content encodings (form-data has none), and ends with its closing boundary.

Every refusal is an `ApiError` with `ret 202`, HTTP 400. Answers are written with non-finite numbers
forbidden: such a value reaching an answer is a server error, logged by the envelope middleware, never
invalid JSON on the wire.
"""

from __future__ import annotations

import json
import re
from typing import Any, NoReturn
from urllib.parse import parse_qsl, unquote_to_bytes

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from shared.envelope import ApiError, envelope, error_envelope, invalid

MAX_DEPTH = 16
"""How many levels objects and arrays may nest, the top-level object being the first (push fields agree)."""

_STRUCTURE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
_SURROGATE = re.compile("[\ud800-\udfff]")
_UTF8 = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})
_PLAIN_ENCODINGS = frozenset({"", "identity", "7bit", "8bit", "binary"})


def is_client_api(path: str) -> bool:
    """`/open/` and `/access/` answer HTTP 200 for every `ret`, as existing clients expect."""
    return path.startswith(("/open/", "/access/"))


def dumps(value: Any) -> str:
    """Compact JSON; a non-finite number raises `ValueError` instead of writing `NaN`, which is not JSON."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def json_envelope(
    data: dict[str, Any] | None = None, *, ret: int = 0, err_msg: str = "success"
) -> web.Response:
    """An answer; a `ret` other than 0 with `data` says what was refused and still shows what it was."""
    return web.json_response(envelope(data, ret=ret, err_msg=err_msg), dumps=dumps)


def error_response(request: web.Request, error: ApiError) -> web.Response:
    """The refusal's envelope. Under `/open/` and `/access/` it is HTTP 200 whatever went wrong, a path
    or method no route serves included (ret 203 / 202): the desktop client takes any other status for a
    network failure and never reads the envelope. Elsewhere the status says what the `ret` says."""
    status = 200 if is_client_api(request.path) else error.http_status
    return web.json_response(error_envelope(error), status=status, dumps=dumps, headers=error.headers)


async def body_fields(request: web.Request) -> dict[str, Any]:
    """The fields of a POST body: a JSON object or a form.

    A JSON object is recognised whatever the Content-Type says, because `curl -d '{...}'` labels it a form.
    Bodies over the app's `client_max_size` raise `HTTPRequestEntityTooLarge` (413) while being read.
    """
    if not request.can_read_body:
        return {}
    if request.content_type == "multipart/form-data":
        return await _multipart_fields(request)
    raw = await request.read()
    if not raw.strip():
        return {}
    if request.content_type == "application/x-www-form-urlencoded" and not raw.lstrip().startswith(b"{"):
        try:
            # `curl -d 'content=é'` sends raw UTF-8 without escapes: accepted, when it is UTF-8.
            return form_fields(raw.decode("utf-8"), strict=True)
        except UnicodeDecodeError:
            raise invalid("body is not valid UTF-8") from None
    return json_object(raw)


def url_fields(request: web.Request) -> dict[str, str]:
    """The fields of the query (the first value of each name), once the whole URL decodes as UTF-8.

    aiohttp replaces undecodable query escapes with U+FFFD and leaves undecodable path escapes as literal
    `%ff` text: both would store something the sender never wrote, so both are refused instead.
    """
    try:
        unquote_to_bytes(request.rel_url.raw_path).decode("utf-8")
    except UnicodeDecodeError:
        raise invalid("URL path is not UTF-8 once percent-decoded") from None
    return form_fields(request.rel_url.raw_query_string, strict=False)


def form_fields(text: str, *, strict: bool) -> dict[str, str]:
    """Fields of URL-encoded text, the first value of each name; escapes must decode as UTF-8.

    `strict` also refuses pairs without `=`, as a form body never has them (a query may: `?flag`).
    """
    try:
        pairs = parse_qsl(
            text, keep_blank_values=True, strict_parsing=strict, encoding="utf-8", errors="strict"
        )
    except UnicodeDecodeError:
        raise invalid("form field is not UTF-8 once percent-decoded") from None
    except ValueError:
        raise invalid("form is not valid URL-encoded text") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields


def json_object(raw: bytes) -> dict[str, Any]:
    """A JSON object from body bytes, under the rules in the module docstring."""
    try:
        # Decoded here rather than by `json.loads(bytes)`, which lets UTF-8-encoded surrogates through.
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid("body is not valid UTF-8") from None
    _refuse_deep_nesting(text)
    try:
        payload = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except ValueError:
        raise invalid("body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise invalid("body must be a JSON object")
    _refuse_lone_surrogates(payload)
    return payload


def _refuse_deep_nesting(text: str) -> None:
    """Refuses text whose brackets (outside strings) nest deeper than `MAX_DEPTH`.

    Counting brackets is enough for valid JSON; anything else fails to parse anyway, with a 400 as well.
    """
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return
    depth = 0
    for token in _STRUCTURE.finditer(text):
        symbol = token.group()
        if symbol in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise invalid(f"payload nests deeper than {MAX_DEPTH} levels")
        elif symbol in "]}":
            depth -= 1


def _refuse_constant(name: str) -> NoReturn:
    raise invalid(f"numbers must be finite: {name} is not JSON")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if value in (float("inf"), float("-inf")):
        raise invalid(f"number {literal[:32]} is out of range")
    return value


def _refuse_lone_surrogates(value: Any) -> None:
    """Walks a parsed payload (its depth is already bounded) for strings no UTF-8 store can hold."""
    if isinstance(value, str):
        if not value.isascii() and _SURROGATE.search(value):
            raise invalid("text holds a lone surrogate escape, which is not a character")
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_lone_surrogates(key)
            _refuse_lone_surrogates(item)
    elif isinstance(value, list):
        for item in value:
            _refuse_lone_surrogates(item)


async def _multipart_fields(request: web.Request) -> dict[str, Any]:
    """The text fields of a multipart form, read part by part within the body size limit."""
    if request.content_length is not None and request.content_length > request.client_max_size:
        raise web.HTTPRequestEntityTooLarge(request.client_max_size, request.content_length)
    fields: dict[str, Any] = {}
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            _check_size(request)
            if not isinstance(part, BodyPartReader):
                raise invalid("multipart parts must not nest")
            name = part.name
            if not name:
                raise invalid("multipart part has no form-data name")
            if part.filename is not None:
                raise invalid(f"field {name[:64]!r} must be text, not a file")
            encodings = (
                part.headers.get("Content-Transfer-Encoding", ""),
                part.headers.get("Content-Encoding", ""),
            )
            if any(encoding.lower() not in _PLAIN_ENCODINGS for encoding in encodings):
                raise invalid(f"field {name[:64]!r} uses an encoding forms do not have")
            if part.get_charset("utf-8").lower() not in _UTF8:
                raise invalid(f"field {name[:64]!r} must be UTF-8")
            data = bytearray()
            while chunk := await part.read_chunk():
                _check_size(request)
                data.extend(chunk)
            try:
                fields.setdefault(name, data.decode("utf-8"))
            except UnicodeDecodeError:
                raise invalid(f"field {name[:64]!r} is not valid UTF-8") from None
    except (ValueError, LookupError, RuntimeError, HttpProcessingError):
        # aiohttp's reader raises these for a missing or wrong boundary, a truncated body, bad part headers.
        raise invalid("multipart body is malformed") from None
    return fields


def _check_size(request: web.Request) -> None:
    if request.content.total_bytes > request.client_max_size:
        raise web.HTTPRequestEntityTooLarge(request.client_max_size, request.content.total_bytes)
