"""Prometheus metrics of one process: one registry; every metric the code observes is defined here.

HTTP requests (the middleware), the bus (adapters: publishes, consumes by outcome, per queue), the
outbox (depth, oldest entry's age, relay republishes and lost claims) and the delivery stages (seconds
from accept to a stage, e.g. the inbox).
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Seconds; from sub-millisecond hops on one machine to retries that wait minutes.
STAGE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._counters: dict[str, Counter] = {}
        self.http_requests = self.counter("igot_http_requests", "HTTP requests answered", ("route", "status"))
        self.http_latency = Histogram(
            "igot_http_request_seconds", "HTTP request latency", ["route"], registry=self.registry
        )
        # Bus: `queue` is the subscription's queue name without the exchange prefix.
        self.bus_published = self.counter(
            "igot_bus_published", "Messages the bus confirmed, by routing key", ("routing_key",)
        )
        self.bus_consumed = self.counter(
            "igot_bus_consumed",
            "Deliveries handled, by queue and outcome (ack, retry, park, drop)",
            ("queue", "outcome"),
        )
        # Outbox (gateway)
        self.outbox_depth = Gauge(
            "igot_outbox_depth", "Accepted messages not yet confirmed by the bus", registry=self.registry
        )
        self.outbox_oldest_age = Gauge(
            "igot_outbox_oldest_age_seconds", "Age of the oldest outbox entry", registry=self.registry
        )
        self.outbox_republished = self.counter(
            "igot_outbox_republished", "Outbox entries the relay of this process published again"
        )
        self.outbox_claims_lost = self.counter(
            "igot_outbox_claims_lost", "Outbox entries another replica's relay had claimed first"
        )
        # Stages: seconds from the push being accepted to the message reaching a stage.
        self.stage_latency = Histogram(
            "igot_stage_seconds",
            "Seconds from accept to a stage (inbox, delivered)",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=self.registry,
        )

    def counter(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
        if name not in self._counters:
            self._counters[name] = Counter(name, documentation, list(labels), registry=self.registry)
        return self._counters[name]
