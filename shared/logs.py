"""structlog set-up: one event per line, JSON in production, readable in a terminal.

Route and consumer entries bind `service`, `trace_id`, `message_id` (and `channel`) into contextvars, so
every event below them carries those ids without passing them around.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog


def configure_logging(log_format: str = "json", level: str = "info", *, service: str | None = None) -> None:
    """`service` names the process in every event, from HTTP handlers, bus handlers and background tasks."""
    numeric_level = logging.getLevelNamesMapping()[level.upper()]

    def add_service(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        if service is not None:
            event.setdefault("service", service)
        return event

    shared_processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        add_service,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any
    if log_format == "console":
        renderer = structlog.dev.ConsoleRenderer()
    else:
        renderer = structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[*shared_processors, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Libraries (aiohttp, aio-pika, pymongo) log through the standard library: keep their warnings.
    logging.basicConfig(
        level=max(numeric_level, logging.WARNING),
        stream=sys.stderr,
        format="%(name)s %(levelname)s %(message)s",
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
