"""A short, readable name for the program behind a session, made from its User-Agent.

The listing of sessions shows it ("iGot desktop", "curl", "Chrome on macOS"), so a user recognises their
devices. It is built from known words only: nothing of the header is shown as sent, except the name of
an unknown program, reduced to plain characters and cut short.
"""

from __future__ import annotations

import re

MAX_UNKNOWN_NAME = 24
UNKNOWN = "unknown client"

# Programs that say who they are in their first product token.
_TOOLS: tuple[tuple[str, str], ...] = (
    ("curl/", "curl"),
    ("wget/", "Wget"),
    ("httpie/", "HTTPie"),
    ("postmanruntime/", "Postman"),
    ("insomnia/", "Insomnia"),
    ("python-requests/", "Python script"),
    ("python-urllib/", "Python script"),
    ("python-httpx/", "Python script"),
    ("aiohttp/", "Python script"),
    ("python/", "Python script"),
    ("go-http-client/", "Go program"),
    ("okhttp/", "Android app"),
    ("node-fetch/", "Node.js script"),
    ("axios/", "Node.js script"),
    ("undici", "Node.js script"),
    ("java/", "Java program"),
    ("powershell/", "PowerShell"),
)
# Browsers, most specific first: Edge and Opera also say Chrome, Chrome also says Safari.
_BROWSERS: tuple[tuple[str, str], ...] = (
    ("edg/", "Edge"),
    ("edga/", "Edge"),
    ("edgios/", "Edge"),
    ("opr/", "Opera"),
    ("samsungbrowser/", "Samsung Internet"),
    ("firefox/", "Firefox"),
    ("fxios/", "Firefox"),
    ("crios/", "Chrome"),
    ("chrome/", "Chrome"),
    ("chromium/", "Chromium"),
    ("version/", "Safari"),
)
_SYSTEMS: tuple[tuple[str, str], ...] = (
    ("iphone", "iOS"),
    ("ipad", "iPadOS"),
    ("android", "Android"),
    ("cros", "ChromeOS"),
    ("windows", "Windows"),
    ("mac os x", "macOS"),
    ("macintosh", "macOS"),
    ("linux", "Linux"),
)
_FIRST_NAME = re.compile(r"[A-Za-z][A-Za-z0-9._-]*")


def client_label(user_agent: str | None) -> str:
    agent = (user_agent or "").strip()
    if not agent:
        return UNKNOWN
    lowered = agent.lower()
    # The desktop client is Electron with the app's name and version appended ("… iGot/1.1.4").
    if "igot/" in lowered:
        return "iGot desktop" if "electron/" in lowered else "iGot"
    for marker, name in _TOOLS:
        if lowered.startswith(marker):
            return name
    if lowered.startswith("mozilla/"):
        browser = next((name for marker, name in _BROWSERS if marker in lowered), "browser")
        system = next((name for marker, name in _SYSTEMS if marker in lowered), "")
        return f"{browser} on {system}" if system else browser
    found = _FIRST_NAME.match(agent)
    return found.group()[:MAX_UNKNOWN_NAME] if found else UNKNOWN
