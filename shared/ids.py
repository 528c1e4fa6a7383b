"""Identifiers: 24 lowercase hex like a MongoDB ObjectId, time-ordered so ids sort by creation."""

from __future__ import annotations

import os
import secrets
import threading
import time

_counter_lock = threading.Lock()
_counter = int.from_bytes(os.urandom(3), "big")
_process_part = os.urandom(5)


def new_id() -> str:
    """4 bytes of seconds, 5 random bytes fixed per process, a 3-byte counter: unique and sortable."""
    global _counter
    with _counter_lock:
        _counter = (_counter + 1) & 0xFFFFFF
        count = _counter
    return (int(time.time()).to_bytes(4, "big") + _process_part + count.to_bytes(3, "big")).hex()


def new_push_key() -> str:
    """A push key is 24 random lowercase hex chars: unguessable, unlike a time-ordered id."""
    return secrets.token_hex(12)


def new_token() -> str:
    return secrets.token_hex(16)


def is_hex24(value: str) -> bool:
    return len(value) == 24 and all(c in "0123456789abcdef" for c in value)


def now_ms() -> int:
    return int(time.time() * 1000)
