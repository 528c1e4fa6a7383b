"""The published contract, fuzzed: generated requests against a running standalone server.

Schemathesis builds requests from the OpenAPI document (valid ones and deliberately invalid ones) for
every operation and checks each answer: never a 5xx, a documented status, the documented content type,
and a body that matches the documented schema (the envelope and the route's `data`). Half of the
requests carry a real push key, token and message id, so they get past the key and token checks into
the code behind them; the rest carry whatever was generated.

A schema-driven generator only writes well-formed JSON, forms and UTF-8, so a second generator here
writes what it never does (non-finite numbers, lone surrogate escapes, deep nesting, undecodable bytes,
broken multipart bodies, other methods) and holds the answers to the same rules.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from igot.openapi.document import build_document
from shared.envelope import Ret
from tests.integration.conftest import start_standalone
from tests.integration.processes import Deployment
from tests.integration.test_push_flow import post_json, sign_in, wait_for_inbox

SCHEMA = schemathesis.openapi.from_dict(build_document())
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Bounded so that the whole run stays within a few minutes on two shared cores.
EXAMPLES_PER_OPERATION = 250
HOSTILE_EXAMPLES = 1000
REQUEST_TIMEOUT_SECONDS = 10
INBOX_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class FuzzTarget:
    url: str
    key: str
    token: str
    message_id: str


async def _prepare(workdir: Path) -> tuple[Deployment, FuzzTarget]:
    deployment = await start_standalone(workdir)
    key = deployment.cli_json("user", "create", "--email", "fuzz@example.com")["key"]
    async with aiohttp.ClientSession() as session:
        token = await sign_in(deployment, session, "fuzz@example.com")
        _, pushed = await post_json(session, f"{deployment.gateway_url}/{key}", json={"content": "seed"})
        await wait_for_inbox(deployment, session, token, 1)
    target = FuzzTarget(url=deployment.gateway_url, key=key, token=token, message_id=pushed["data"]["id"])
    return deployment, target


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    deployment, target = asyncio.run(_prepare(tmp_path_factory.mktemp("fuzz")))
    try:
        yield target
    finally:
        exit_codes = deployment.stop()
    assert exit_codes == dict.fromkeys(exit_codes, 0), deployment.logs()


def _supply_real_credentials(case: schemathesis.Case[Any], target: FuzzTarget) -> None:
    """Put a real key, message id and token where the operation takes them."""
    path_parameters = case.path_parameters or {}
    if "key" in path_parameters:
        path_parameters["key"] = target.key
    if "id" in path_parameters:
        path_parameters["id"] = target.message_id
    if case.operation.path.startswith(("/open/message", "/open/push-way")):
        case.query = {**(case.query or {}), "token": target.token}


@SCHEMA.parametrize()
@SCHEMA.given(real_credentials=st.booleans())
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_keeps_the_contract(
    case: schemathesis.Case[Any], real_credentials: bool, fuzz_target: FuzzTarget
) -> None:
    if real_credentials:
        _supply_real_credentials(case, fuzz_target)
    case.call_and_validate(base_url=fuzz_target.url, checks=CHECKS, timeout=REQUEST_TIMEOUT_SECONDS)


# The pieces of JSON text that are not JSON, or that push fields must refuse, mixed into documents.
JSON_ATOMS = st.sampled_from(
    [
        "NaN",
        "-Infinity",
        "Infinity",
        "1e999",
        "-1e400",
        "1" * 400,
        '"\\ud800"',
        '"x\\udfff"',
        '"\\u0000"',
        '"a\\r\\nb"',
        '"$where"',
        "true",
        "null",
        '"é"',
        "1_000",
        "+2",
    ]
)
JSON_KEYS = st.sampled_from(
    ["content", "title", "url", "automaticallyCopy", "copy", "topic", "$gt", "x", "code"]
)


def _json_value() -> st.SearchStrategy[str]:
    return st.recursive(
        JSON_ATOMS,
        lambda children: (
            st.lists(children, max_size=3).map(lambda items: "[" + ",".join(items) + "]")
            | st.lists(st.tuples(JSON_KEYS, children), max_size=3).map(
                lambda pairs: "{" + ",".join(f'"{key}":{value}' for key, value in pairs) + "}"
            )
        ),
        max_leaves=8,
    )


def _nested(depth: int, field: bool) -> str:
    inner = "[" * depth + "]" * depth
    return '{"content":"x","d":' + inner + "}" if field else inner


def _percent(data: bytes) -> str:
    return "".join(f"%{byte:02x}" for byte in data)


def _multipart(boundary: str, parts: list[tuple[str, bytes]], closed: bool, cut: int) -> bytes:
    body = b"".join(f"--{boundary}\r\n{headers}\r\n\r\n".encode() + data + b"\r\n" for headers, data in parts)
    body += f"--{boundary}--\r\n".encode() if closed else b""
    return body[:cut] if cut else body


@dataclass(frozen=True)
class HostileRequest:
    method: str
    path: str  # `{key}` stands for the real push key
    content_type: str | None
    body: bytes

    def target(self, key: str) -> str:
        return self.path.replace("{key}", key)


BODY_PATHS = st.sampled_from(["/{key}", "/open/user/login"])
PART_HEADERS = st.sampled_from(
    [
        'Content-Disposition: form-data; name="content"',
        'Content-Disposition: form-data; name="content"; filename="a.txt"',
        "Content-Disposition: attachment",
        "Content-Type: text/plain",
        'Content-Disposition: form-data; name="title"\r\nContent-Transfer-Encoding: base64',
        'Content-Disposition: form-data; name="content"\r\nContent-Type: text/plain; charset=latin-1',
        "",
    ]
)


def _hostile_json() -> st.SearchStrategy[HostileRequest]:
    bodies = st.one_of(
        _json_value().map(lambda value: '{"content":"x","v":' + value + "}"),
        _json_value(),
        st.tuples(st.integers(1, 20_000), st.booleans()).map(lambda spec: _nested(*spec)),
    )
    types = st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/plain", None])
    return st.builds(HostileRequest, st.just("POST"), BODY_PATHS, types, bodies.map(str.encode))


def _hostile_form() -> st.SearchStrategy[HostileRequest]:
    fields = st.tuples(JSON_KEYS, st.binary(max_size=24)).map(lambda pair: f"{pair[0]}={_percent(pair[1])}")
    bodies = st.lists(fields, min_size=1, max_size=4).map(lambda items: "&".join(items).encode())
    raw = st.binary(min_size=1, max_size=256)
    return st.builds(
        HostileRequest,
        st.just("POST"),
        BODY_PATHS,
        st.just("application/x-www-form-urlencoded"),
        bodies | raw,
    )


def _hostile_multipart() -> st.SearchStrategy[HostileRequest]:
    boundary = st.sampled_from(["b", "----x", "a b"])
    parts = st.lists(st.tuples(PART_HEADERS, st.binary(max_size=32)), max_size=3)
    body = st.builds(_multipart, boundary, parts, st.booleans(), st.integers(0, 200))
    declared = st.sampled_from(
        [
            "multipart/form-data; boundary=b",
            "multipart/form-data",
            "multipart/form-data; boundary=zz",
            "multipart/mixed; boundary=b",
        ]
    )
    return st.builds(HostileRequest, st.just("POST"), BODY_PATHS, declared, body)


def _hostile_url() -> st.SearchStrategy[HostileRequest]:
    segment = st.binary(min_size=1, max_size=24).map(_percent)
    query = st.lists(st.tuples(JSON_KEYS, st.binary(max_size=16)), max_size=3).map(
        lambda pairs: "&".join(f"{name}={_percent(value)}" for name, value in pairs)
    )
    paths = st.one_of(
        st.tuples(segment, query).map(lambda parts: f"/{{key}}/{parts[0]}?{parts[1]}"),
        st.tuples(segment, segment).map(lambda parts: f"/{{key}}/{parts[0]}/{parts[1]}"),
        query.map(lambda text: f"/{{key}}?{text}"),
        st.tuples(st.sampled_from(["index", "size"]), JSON_ATOMS | st.integers().map(str)).map(
            lambda pair: f"/open/message/?{pair[0]}={_percent(pair[1].encode())}"
        ),
    )
    methods = st.sampled_from(["GET", "GET", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"])
    return st.builds(HostileRequest, methods, paths, st.none(), st.just(b""))


DOCUMENT = build_document()
# Templates with fewer variables first, so that `/open/message/x` is the message detail, not a push.
TEMPLATES = sorted(DOCUMENT["paths"], key=lambda template: template.count("{"))


def documented_statuses(method: str, path: str) -> set[int]:
    """What the document allows for this request; a path or method it lists nowhere answers 404 or 405,
    or HTTP 200 under `/open/` and `/access/`, where every answer is."""
    route = path.split("?", 1)[0]
    for template in TEMPLATES:
        if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), route):
            operation = DOCUMENT["paths"][template].get(method.lower())
            if operation is not None:
                return {int(status) for status in operation["responses"]}
            break
    return {200} if route.startswith(("/open/", "/access/")) else {404, 405}


def _refuse_constant(name: str) -> None:
    raise AssertionError(f"answer holds {name}, which is not JSON")


def check_answer(
    request: HostileRequest, path: str, status: int, content_type: str, body: bytes
) -> dict[str, Any] | None:
    """Holds the answer to the rules; returns it parsed (None for HEAD, which has no body)."""
    shown = (
        f"{request.method} {path} ({request.content_type}) {request.body[:300]!r} → {status} {body[:300]!r}"
    )
    assert status < 500, shown
    assert status in documented_statuses(request.method, path), shown
    if request.method == "HEAD":
        return None
    assert content_type.split(";")[0].strip() == "application/json", shown
    answer: dict[str, Any] = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    assert set(answer) == {"ret", "data", "errMsg"}, shown
    assert answer["ret"] in {int(ret) for ret in Ret} and isinstance(answer["errMsg"], str), shown
    assert isinstance(answer["data"], dict), shown
    if answer["ret"] != Ret.OK or status != 200:
        assert (status == 200 or answer["ret"] != Ret.OK) and answer["data"] == {}, shown
    return answer


def check_readable_in_inbox(target: FuzzTarget, message_id: str) -> None:
    """What was accepted must read back as strict JSON once the dispatcher put it in the inbox."""
    read = HostileRequest("GET", f"/open/message/{message_id}?token={target.token}", None, b"")
    deadline = time.monotonic() + INBOX_TIMEOUT_SECONDS
    while True:
        answer = check_answer(read, read.path, *send(target.url, read, read.path))
        assert answer is not None
        if answer["ret"] == Ret.OK:
            return
        assert answer["ret"] == Ret.NOT_FOUND and time.monotonic() < deadline, answer
        time.sleep(0.02)  # delivery to the inbox is asynchronous: poll for it, bounded by the deadline


def send(url: str, request: HostileRequest, path: str) -> tuple[int, str, bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=REQUEST_TIMEOUT_SECONDS)
    headers = {"Content-Type": request.content_type} if request.content_type else {}
    try:
        connection.request(request.method, path, body=request.body or None, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


HOSTILE = {
    "json": _hostile_json(),
    "form": _hostile_form(),
    "multipart": _hostile_multipart(),
    "url": _hostile_url(),
}


@pytest.mark.parametrize("family", sorted(HOSTILE))
@settings(
    max_examples=HOSTILE_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)
@given(data=st.data())
def test_hostile_bodies_and_urls_are_refused_with_an_envelope(
    family: str, data: st.DataObject, fuzz_target: FuzzTarget
) -> None:
    request = data.draw(HOSTILE[family], label="request")
    path = request.target(fuzz_target.key)
    answer = check_answer(request, path, *send(fuzz_target.url, request, path))
    if answer is not None and answer["ret"] == Ret.OK and "id" in answer["data"]:
        check_readable_in_inbox(fuzz_target, answer["data"]["id"])
