"""Prometheus metrics of one process: one registry, counters made once and looked up by name."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._counters: dict[str, Counter] = {}
        self.http_requests = self.counter("igot_http_requests", "HTTP requests answered", ("route", "status"))
        self.http_latency = Histogram(
            "igot_http_request_seconds", "HTTP request latency", ["route"], registry=self.registry
        )

    def counter(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
        if name not in self._counters:
            self._counters[name] = Counter(name, documentation, list(labels), registry=self.registry)
        return self._counters[name]
