"""The load generator, run as its own process so it never shares an event loop with a server.

`python -m bench.load --url http://127.0.0.1:PORT/KEY` keeps `--concurrency` workers posting a small JSON
push for `--warmup` then `--duration` seconds and prints one JSON object on stdout: throughput and latency
of the measured window, errors by kind, and how many distinct message ids were accepted over the whole run
(warm-up included) for the durability check. With `--stamp` each push's content ends with
`sent@<unix time>`, so a receiver on the same machine (the delivery benchmark's fake Bark server) can time
each message from send to delivery.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
HEADERS = {"Content-Type": "application/json"}
# A hard cap per worker on top of the time limit, so no loop can run away on instant failures.
MAX_REQUESTS_PER_WORKER = 1_000_000
FAILURE_PAUSE_SECONDS = 0.05
STAMP_MARK = "sent@"


@dataclass
class Window:
    """When the measured window opens and closes, on the `time.perf_counter` clock."""

    opens: float
    closes: float


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    accepted: int = 0
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    accepted_ids: set[str] = field(default_factory=set)
    rejected_total: int = 0


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list (0.0 when it is empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), round(fraction * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def _outcome(status: int, raw: bytes) -> tuple[str | None, str | None]:
    """(message id, None) for an accepted push, (None, error kind) otherwise."""
    try:
        answer = json.loads(raw)
    except ValueError:
        return None, f"http {status} non-JSON"
    if not isinstance(answer, dict):
        return None, f"http {status} non-object"
    data = answer.get("data")
    message_id = data.get("id") if isinstance(data, dict) else None
    if status == 200 and answer.get("ret") == 0 and isinstance(message_id, str):
        return message_id, None
    return None, f"http {status} ret {answer.get('ret')}"


async def _worker(
    worker: int, session: aiohttp.ClientSession, url: str, window: Window, tally: Tally, *, stamp: bool
) -> None:
    for sequence in range(MAX_REQUESTS_PER_WORKER):
        if time.perf_counter() >= window.closes:
            return
        content = f"benchmark push {worker}-{sequence}"
        if stamp:  # when it was sent (wall clock), for a receiver on this machine to time the delivery
            content += f" {STAMP_MARK}{time.time():.6f}"
        body = json.dumps({"title": "bench", "content": content}).encode()
        started = time.perf_counter()
        message_id: str | None = None
        failed_at_connection = False
        tally.sent += 1
        try:
            async with session.post(url, data=body, headers=HEADERS) as response:
                raw = await response.read()
                message_id, kind = _outcome(response.status, raw)
        except (aiohttp.ClientError, TimeoutError) as error:
            kind = type(error).__name__
            failed_at_connection = True
        finished = time.perf_counter()
        if message_id is not None:
            tally.accepted_ids.add(message_id)
        else:
            tally.rejected_total += 1
        if window.opens <= finished <= window.closes:
            tally.latencies.append(finished - started)
            if message_id is not None:
                tally.accepted += 1
            else:
                tally.errors += 1
                key = kind or "unknown"
                tally.error_kinds[key] = tally.error_kinds.get(key, 0) + 1
        if failed_at_connection:
            await asyncio.sleep(FAILURE_PAUSE_SECONDS)


async def run_load(
    url: str,
    *,
    concurrency: int,
    duration: float,
    warmup: float,
    request_timeout: float,
    stamp: bool = False,
) -> dict[str, Any]:
    host = urlsplit(url).hostname
    if host not in LOOPBACK_HOSTS:
        raise SystemExit(f"refusing to load a non-loopback host: {host!r}")
    tally = Tally()
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=request_timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        begun = time.perf_counter()
        window = Window(opens=begun + warmup, closes=begun + warmup + duration)
        workers = [
            asyncio.create_task(_worker(number, session, url, window, tally, stamp=stamp))
            for number in range(concurrency)
        ]
        await asyncio.sleep(max(0.0, window.opens - time.perf_counter()))
        cpu_at_open, wall_at_open = time.process_time(), time.perf_counter()
        await asyncio.sleep(max(0.0, window.closes - time.perf_counter()))
        cpu_share = (time.process_time() - cpu_at_open) / max(1e-9, time.perf_counter() - wall_at_open)
        # Workers stop issuing at the close; what is in flight ends within the request timeout.
        await asyncio.wait_for(asyncio.gather(*workers), request_timeout + 5.0)
    latencies = sorted(tally.latencies)
    to_ms = 1000.0
    return {
        "window_seconds": duration,
        "concurrency": concurrency,
        "accepted": tally.accepted,
        "errors": tally.errors,
        "error_kinds": tally.error_kinds,
        "accepted_per_second": tally.accepted / duration,
        "latency_ms": {
            "p50": percentile(latencies, 0.50) * to_ms,
            "p90": percentile(latencies, 0.90) * to_ms,
            "p99": percentile(latencies, 0.99) * to_ms,
            "max": (latencies[-1] if latencies else 0.0) * to_ms,
            "mean": (sum(latencies) / len(latencies) if latencies else 0.0) * to_ms,
        },
        "total_sent": tally.sent,
        "total_accepted_ids": len(tally.accepted_ids),
        "total_rejected": tally.rejected_total,
        "client_cpu_share": cpu_share,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load")
    parser.add_argument("--url", required=True, help="push URL on 127.0.0.1, key included")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--request-timeout", type=float, default=10.0)
    parser.add_argument("--stamp", action="store_true", help="put the send time in each push's content")
    args = parser.parse_args(argv)
    result = asyncio.run(
        run_load(
            args.url,
            concurrency=args.concurrency,
            duration=args.duration,
            warmup=args.warmup,
            request_timeout=args.request_timeout,
            stamp=args.stamp,
        )
    )
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
