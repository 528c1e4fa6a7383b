"""Paging numbers of the client API (`?index=&size=`), read alike by every service's listings.

Numbers are plain ASCII digits (no `+`, `_`, other scripts' digits) and bounded, so the store's 64-bit
skip never overflows.
"""

from __future__ import annotations

import re

from aiohttp import web

from shared.envelope import invalid

MAX_PAGE_SIZE = 50
# The last page whose skip, `(index - 1) * size`, still fits a signed 64-bit integer at the largest size.
MAX_PAGE_INDEX = (2**63 - 1) // MAX_PAGE_SIZE
ASCII_DIGITS = re.compile(r"[0-9]{1,19}")


def page_number(request: web.Request, name: str, *, default: int, largest: int) -> int:
    """The query's `name` as a whole number from 1 to `largest`; `default` when absent or empty."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    # `int()` would also take "+2", "1_000", " 3" and digits of other scripts: clients must send plain digits.
    if not ASCII_DIGITS.fullmatch(raw):
        raise invalid(f"{name} must be a whole number between 1 and {largest}")
    value = int(raw)
    if not 1 <= value <= largest:
        raise invalid(f"{name} must be a whole number between 1 and {largest}")
    return value
