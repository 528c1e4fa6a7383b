"""The trace id: one header name on HTTP requests and answers and on bus messages alike."""

from __future__ import annotations

import os

TRACE_HEADER = "x-trace-id"  # HTTP header names are case-insensitive; AMQP's are not, so lower case
MESSAGE_HEADER = "x-message-id"


def new_trace_id() -> str:
    """128 random bits as 32 hex characters (the form of a UUID's hex, at a fraction of its cost)."""
    return os.urandom(16).hex()
