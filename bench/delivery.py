"""`make bench`, second part: pushes delivered to a push way end to end, beside a raw broker loop.

For each iGot mode (standalone, distributed) the harness starts iGot as `bench.run` does, gives the bench
user a verified Bark way that points at a fake Bark server in this process, and loads push ingress with
`bench.load --stamp` (every push carries its send time). The fake server answers as Bark does and records
when each push arrived, so the figures are what a user's phone would see:

* delivered/s — pushes the fake Bark server received during the measured window, per second;
* sent→delivered p50 / p99 — from the load generator sending the push to Bark receiving it;
* drained after — how long after the load ended the last accepted push reached Bark; late — how many had
  not reached it when the (bounded) wait ended.

The baseline of the same run is the broker alone: a publish (persistent, confirmed) + consume (acked)
loop on a quorum queue of the same RabbitMQ, with as many messages in flight as the load has clients.
Results: a table on stdout and `bench/results/delivery-<UTC time>.json` (also `delivery-latest.json`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import aio_pika
import pymongo
from aiohttp import web

from bench.load import STAMP_MARK, percentile
from bench.run import (
    BENCH_EMAIL,
    STARTERS,
    ModeFailed,
    Options,
    Running,
    infrastructure_problem,
    machine_facts,
    note,
    parse_options,
    ratio_text,
    run_load_process,
    run_mode,
    write_report,
)
from shared.data import push_ways
from shared.store.sqlite import SqliteStore

MODES = ("standalone", "distributed")
DEVICE_KEY = "benchdevice0000000000"
# The fake Bark server is on 127.0.0.1; the delivery retries fast so a hiccup does not stall the drain.
SETTINGS = (("allow_private_targets", "true"), ("bus_retry_delays", "[0.5, 1, 2]"))


@dataclass
class FakeBark:
    """Answers `POST /push` like a Bark server and records when each push arrived."""

    arrivals: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/push", self._push)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _push(self, request: web.Request) -> web.Response:
        arrived = time.time()
        payload = await request.json()
        self.arrivals.append((arrived, payload))
        return web.json_response({"code": 200, "message": "success", "timestamp": int(arrived)})

    def contents(self) -> set[str]:
        return {str(payload.get("body", "")) for _, payload in self.arrivals}


def _sent_at(content: str) -> float | None:
    _, mark, stamp = content.rpartition(STAMP_MARK)
    try:
        return float(stamp) if mark else None
    except ValueError:
        return None


async def _give_bark_way(running: Running, user_id: str, bark: FakeBark) -> None:
    """The bench user's verified Bark way, written where the mode keeps push ways."""
    document: dict[str, Any] = {
        "_id": user_id,
        "orders": ["bark", "email", "wechat", "webhook"],
        "bark": {"key": DEVICE_KEY, "server": bark.url, "status": push_ways.VERIFIED},
    }
    assert running.deployment is not None
    env = running.deployment.env
    if env.get("IGOT_MODE") == "distributed":
        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(env["IGOT_MONGO_URL"])
        with client:
            client[env["IGOT_MONGO_DB"]][push_ways.COLLECTION].insert_one(document)
        return
    store = SqliteStore(Path(env["IGOT_DATA_DIR"]) / "igot.sqlite3")
    try:
        await store.collection(push_ways.COLLECTION).insert_one(document)
    finally:
        await store.close()


async def _drain(bark: FakeBark, accepted: int, timeout: float) -> bool:
    """Wait (bounded) until Bark holds every accepted push."""
    deadline = time.monotonic() + timeout
    while len(bark.contents()) < accepted:
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.1)
    return True


async def _measure_mode(mode: str, options: Options, workdir: Path) -> dict[str, Any]:
    bark = FakeBark()
    await bark.start()
    running = Running()
    try:
        await STARTERS[mode](running, workdir, options)
        assert running.deployment is not None
        user = running.deployment.cli_json("user", "create", "--email", BENCH_EMAIL)
        await _give_bark_way(running, user["id"], bark)
        load_started = time.time()
        load = await run_load_process(f"{running.push_base}/{user['key']}", options, stamp=True)
        load_ended = time.time()
        drained = await _drain(bark, load["total_accepted_ids"], options.drain_timeout)
        last_arrival = max((arrived for arrived, _ in bark.arrivals), default=load_ended)
        opens = load_started + options.warmup
        closes = opens + options.duration
        latencies = sorted(
            arrived - sent
            for arrived, payload in bark.arrivals
            if (sent := _sent_at(str(payload.get("body", "")))) is not None and opens <= arrived <= closes
        )
        delivered_in_window = sum(1 for arrived, _ in bark.arrivals if opens <= arrived <= closes)
        return {
            "status": "ok",
            "accepted_per_second": load["accepted_per_second"],
            "delivered_per_second": delivered_in_window / options.duration,
            "sent_to_delivered_ms": {
                "p50": percentile(latencies, 0.50) * 1000,
                "p90": percentile(latencies, 0.90) * 1000,
                "p99": percentile(latencies, 0.99) * 1000,
            },
            "accepted_total": load["total_accepted_ids"],
            "delivered_total": len(bark.contents()),
            "bark_requests": len(bark.arrivals),  # above delivered_total: a push delivered twice
            # from the end of the load to the last push reaching Bark (None: not all of them did)
            "drained_after_load_seconds": max(0.0, last_arrival - load_ended) if drained else None,
            # accepted but not at Bark when the wait ended (still queued, or lost)
            "undelivered": max(0, load["total_accepted_ids"] - len(bark.contents())),
            "client_cpu_share": load["client_cpu_share"],
        }
    except ModeFailed as failure:
        failure.logs = failure.logs or running.logs()
        raise
    except Exception as error:  # whatever breaks, the mode is reported as failed with its logs
        raise ModeFailed(f"{type(error).__name__}: {error}", running.logs()) from error
    finally:
        problems = await running.stop()
        if problems:
            note(f"delivery {mode}: {'; '.join(problems)}")
        await bark.stop()


async def broker_loop(amqp_url: str, *, in_flight: int, duration: float) -> dict[str, Any]:
    """RabbitMQ alone: confirmed persistent publishes to a quorum queue and acked consumes, for `duration`."""
    connection = await aio_pika.connect(amqp_url)
    name = f"bench-broker-{uuid.uuid4().hex[:12]}"
    try:
        publisher = await connection.channel(publisher_confirms=True)
        consumer = await connection.channel()
        await consumer.set_qos(prefetch_count=in_flight)
        queue = await consumer.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})
        consumed = 0
        slots = asyncio.Semaphore(in_flight)

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal consumed
            await message.ack()
            consumed += 1
            slots.release()

        await queue.consume(on_message)
        body = json.dumps({"title": "bench", "content": "broker loop"}).encode()
        started = time.monotonic()
        closes = started + duration
        pending: set[asyncio.Task[Any]] = set()
        while time.monotonic() < closes:
            await slots.acquire()
            message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
            task = asyncio.create_task(publisher.default_exchange.publish(message, routing_key=name))
            pending.add(task)
            task.add_done_callback(pending.discard)
        elapsed = time.monotonic() - started
        await asyncio.gather(*pending)
        return {"status": "ok", "delivered_per_second": consumed / elapsed, "in_flight": in_flight}
    finally:
        admin = await connection.channel()
        await admin.queue_delete(name)
        await connection.close()


def table(results: dict[str, dict[str, Any]]) -> str:
    broker = results.get("broker", {})
    base = broker.get("delivered_per_second") if broker.get("status") == "ok" else None
    header = (
        f"{'mode':<12} {'accepted/s':>10} {'delivered/s':>11} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'vs broker':>9} {'late':>5} {'drained s':>9}"
    )
    lines = [header, "-" * len(header)]
    for mode, figures in results.items():
        if figures.get("status") != "ok":
            lines.append(f"{mode:<12} FAILED: {' '.join(str(figures.get('error')).split())[:120]}")
            continue
        rate = figures["delivered_per_second"]
        ratio = ratio_text(rate / base) if base else "-"
        if mode == "broker":
            lines.append(
                f"{'raw broker':<12} {'-':>10} {rate:>11.1f} {'-':>8} {'-':>8} {ratio:>9} {'-':>5} {'-':>9}"
            )
            continue
        latency = figures["sent_to_delivered_ms"]
        drained = figures["drained_after_load_seconds"]
        lines.append(
            f"{mode:<12} {figures['accepted_per_second']:>10.1f} {rate:>11.1f} {latency['p50']:>8.1f} "
            f"{latency['p99']:>8.1f} {ratio:>9} {figures['undelivered']:>5} "
            f"{'-' if drained is None else f'{drained:.1f}':>9}"
        )
    lines.append(
        "delivered/s: pushes the fake Bark server received in the measured window; p50/p99: push sent to "
        "Bark received; late: accepted, not at Bark when the drain wait ended; raw broker: confirmed publish "
        "+ acked consume on one RabbitMQ quorum queue"
    )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.delivery", add_help=False)
    parser.add_argument("--modes", default=",".join(MODES))
    known, rest = parser.parse_known_args(argv)
    options = replace(parse_options(rest), settings=SETTINGS)
    modes = tuple(mode for mode in known.modes.split(",") if mode in MODES)
    machine = machine_facts()
    results: dict[str, dict[str, Any]] = {}
    if infrastructure_problem(options) is None:
        note("delivery broker: starting")
        results["broker"] = asyncio.run(
            broker_loop(options.amqp_url, in_flight=options.concurrency, duration=options.duration)
        )
    for mode in modes:
        results[mode] = run_mode(
            "delivery",
            mode,
            partial(_measure_mode, mode, options),
            problem=infrastructure_problem(options) if mode == "distributed" else None,
        )
    report = {
        "machine": machine,
        "parameters": {
            "duration_seconds": options.duration,
            "warmup_seconds": options.warmup,
            "concurrency": options.concurrency,
            "modes": list(modes),
        },
        "results": results,
    }
    write_report(report, table(results), prefix="delivery-")
    # A run that could not measure fails; a slow drain is a figure, reported, not a failure.
    failed = [name for name, figures in results.items() if figures.get("status") != "ok"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
