"""The client label of a session: known programs by name, browsers with their system, nothing raw."""

from __future__ import annotations

import pytest

from services.auth.client_label import MAX_UNKNOWN_NAME, UNKNOWN, client_label


@pytest.mark.parametrize(
    ("agent", "label"),
    [
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) iGot/1.1.4 "
            "Chrome/80.0.3987.165 Electron/8.2.5 Safari/537.36",
            "iGot desktop",
        ),
        ("curl/8.5.0", "curl"),
        ("python-requests/2.31.0", "Python script"),
        ("Python/3.12 aiohttp/3.9.5", "Python script"),
        ("Go-http-client/2.0", "Go program"),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.0.0 Safari/537.36",
            "Chrome on macOS",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0",
            "Edge on Windows",
        ),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", "Firefox on Linux"),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.4 Mobile/15E148 Safari/604.1",
            "Safari on iOS",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.0.0 Mobile Safari/537.36",
            "Chrome on Android",
        ),
        ("", UNKNOWN),
        (None, UNKNOWN),
        ("<script>alert(1)</script>", UNKNOWN),
        ("MyTool/1.0 (+https://example.com)", "MyTool"),
    ],
)
def test_labels(agent: str | None, label: str) -> None:
    assert client_label(agent) == label


def test_an_unknown_name_is_cut_short() -> None:
    assert client_label("A" * 500 + "/1.0") == "A" * MAX_UNKNOWN_NAME
