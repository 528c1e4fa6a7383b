"""The trace id: one header name on HTTP requests and answers and on bus messages alike."""

from __future__ import annotations

import uuid

TRACE_HEADER = "x-trace-id"  # HTTP header names are case-insensitive; AMQP's are not, so lower case
MESSAGE_HEADER = "x-message-id"


def new_trace_id() -> str:
    return uuid.uuid4().hex
