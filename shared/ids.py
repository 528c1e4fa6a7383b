"""Identifiers: 24 lowercase hex like a MongoDB ObjectId, time-ordered so ids sort by creation second.

An id is 4 bytes of seconds and 8 random bytes. Nothing in it counts: two ids a client sees (its own
pushes, say) tell nothing about how many were made in between by anyone else, as a counter would.
Within one second ids are in no particular order; what needs an order inside a second sorts by a
millisecond field first (`createdAt`). 64 random bits make a collision within one second negligible.
"""

from __future__ import annotations

import secrets
import time


def new_id() -> str:
    """4 bytes of seconds, then 8 random bytes: unique, sortable by second, and revealing no volume."""
    return (int(time.time()).to_bytes(4, "big") + secrets.token_bytes(8)).hex()


def new_push_key() -> str:
    """A push key is 24 random lowercase hex chars: unguessable, unlike a time-ordered id."""
    return secrets.token_hex(12)


def new_token() -> str:
    return secrets.token_hex(16)


def is_hex24(value: str) -> bool:
    return len(value) == 24 and all(c in "0123456789abcdef" for c in value)


def now_ms() -> int:
    return int(time.time() * 1000)
