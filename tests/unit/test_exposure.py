"""What iGot gives away without being asked: trace ids, paths in logs, ids, file modes, error pages."""

from __future__ import annotations

import itertools
import stat
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, BadStatusLine, LineTooLong
from aiohttp.test_utils import make_mocked_request

from shared.http_server import MAX_HEADER_FIELD, MAX_REQUEST_LINE, _refusal
from shared.ids import is_hex24, new_id
from shared.store.sqlite import SqliteStore
from shared.store.sqlite_worker import make_private
from shared.web import masked_path, trace_id_of

KEY = "3f2a9c0d1e2f3a4b5c6d7e8f"


async def _fixed(request: web.Request) -> web.Response:
    return web.Response()


def _app() -> web.Application:
    app = web.Application()
    app.router.add_get("/healthz", _fixed)
    app.router.add_get("/open/message/{id}", _fixed)
    app.router.add_get("/verify/{token}", _fixed)
    app.router.add_get("/unsubscribe/{token}", _fixed)
    app.router.add_get("/signin/{token}", _fixed)
    app.router.add_get("/{key}/{content}", _fixed)
    return app


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        (f"/{KEY}/hello", "/3f2a…****/hello"),
        (f"/{KEY}", "/3f2a…****"),
        (f"/{KEY}/a/b/c/d", "/3f2a…****/a/b/c/d"),
        ("/short/x", "/****/x"),
        ("/healthz", "/healthz"),
        ("/open/message/abc", "/open/message/abc"),
        ("/verify/Zq3xTkq0Yb1v8mWb2aRt0sLh", "/verify/Zq3x…****"),
        ("/unsubscribe/Zq3xTkq0Yb1v8mWb2aRt0sLh", "/unsubscribe/Zq3x…****"),
        ("/signin/Zq3xTkq0Yb1v8mWb2aRt0sLh", "/signin/Zq3x…****"),
        ("/verify/", "/verify/"),
        (f"/open/link/temporary/{KEY}/pause", "/open/link/temporary/3f2a…****/pause"),
        (f"/open/link/temporary/{KEY}/qr.png", "/open/link/temporary/3f2a…****/qr.png"),
        (f"/open/link/temporary/{KEY}", "/open/link/temporary/3f2a…****"),
        ("/open/link/temporary", "/open/link/temporary"),
        ("/open/link/temporary/", "/open/link/temporary/"),
        ("/", "/"),
    ],
)
def test_paths_are_logged_with_push_keys_and_link_tokens_masked(path: str, logged: str) -> None:
    assert masked_path(make_mocked_request("GET", path, app=_app())) == logged


@pytest.mark.parametrize(
    ("claimed", "kept"),
    [
        ("abc-1.2_3", True),
        ("A" * 64, True),
        ("A" * 65, False),
        ("", False),
        ("<script>", False),
        ("a b", False),
        ("ünï", False),
    ],
)
def test_trace_ids_are_honoured_only_in_a_sane_form(claimed: str, kept: bool) -> None:
    request = make_mocked_request("GET", "/healthz", headers={"X-Trace-Id": claimed})
    trace_id = trace_id_of(request)
    if kept:
        assert trace_id == claimed
    else:
        assert trace_id != claimed and len(trace_id) == 32


def test_ids_reveal_no_volume() -> None:
    """Consecutive ids share their seconds, and nothing else: no counter steps between them."""
    ids = [new_id() for _ in range(200)]
    assert all(is_hex24(i) for i in ids) and len(set(ids)) == len(ids)
    tails = [int(i[8:], 16) for i in ids]
    steps = [abs(b - a) for a, b in itertools.pairwise(tails)]
    assert min(steps) > 2**32, "consecutive ids differ by a small step: a counter shows through"
    assert len({i[8:18] for i in ids}) == len(ids), "a part of the id is fixed per process"


@pytest.mark.parametrize(
    ("exc", "status", "reason"),
    [
        (LineTooLong(b"/aaaa...", MAX_REQUEST_LINE), 414, "request line too long"),
        (LineTooLong(b"X-Big...", MAX_HEADER_FIELD), 431, "request header too large"),
        (BadHttpMessage("Too many headers received"), 431, "too many request headers"),
        (BadStatusLine("GARBAGE"), 400, "malformed HTTP request"),
    ],
)
def test_protocol_errors_become_envelopes_that_quote_nothing(
    exc: Exception, status: int, reason: str
) -> None:
    refusal = _refusal(400, exc)
    assert (refusal.ret, refusal.http_status, refusal.reason) == (202, status, reason)


async def write_once(data: Path) -> None:
    store = SqliteStore(data / "igot.sqlite3")
    await store.collection("c").insert_one({"_id": "a"})
    await store.close()


def assert_private(data: Path) -> None:
    """The directory 0700, the database and its WAL files 0600."""
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for path in data.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


async def test_the_store_file_and_directory_are_private(tmp_path: Path) -> None:
    data = tmp_path / "fresh"
    await write_once(data)
    assert_private(data)


async def test_an_existing_store_is_tightened(tmp_path: Path) -> None:
    data = tmp_path / "existing"
    data.mkdir()
    data.chmod(0o755)
    (data / "igot.sqlite3").touch()
    (data / "igot.sqlite3").chmod(0o644)
    await write_once(data)
    assert_private(data)


def test_narrower_modes_are_never_loosened(tmp_path: Path) -> None:
    data = tmp_path / "narrow"
    data.mkdir()
    (data / "igot.sqlite3").touch()
    (data / "igot.sqlite3").chmod(0o400)
    data.chmod(0o500)
    try:
        make_private(data / "igot.sqlite3")
        assert stat.S_IMODE(data.stat().st_mode) == 0o500
        assert stat.S_IMODE((data / "igot.sqlite3").stat().st_mode) == 0o400
    finally:
        data.chmod(0o700)
