"""`make bench`, third part: one push to a group link with many subscribers, expanded by the fanout service.

For each iGot mode (standalone, distributed: `igot serve auth|dispatcher|gateway|moderation|fanout`) the
harness starts iGot as `bench.run` does, signs in a creator and makes a group link through the HTTP API,
then writes `--subscribers` subscriptions (default 100,000) straight into the store with its bulk insert
(`insert_many`, `--page` documents a call). That insert rate is the baseline of the same run: the store
writing documents as fast as it can, with nothing else to do. Then it pushes once with the link's key and
polls (every 0.1 s, by `_id`) for the record the fanout writes once its last page is done, then checks
that every subscriber has an inbox entry:

* recipients/s — subscribers over the time from the push (through moderation) until the job was done;
* ratio — recipients/s over the bulk insert's docs/s;
* max RSS — the largest VmRSS of the process that expands (distributed: `igot serve fanout`; standalone:
  the one process), sampled every 0.1 s from before the push to the end.

Every subscriber is weak (inbox only), so the figure is the expansion (reading the subscriptions in one
pass into the job's roster, then writing inbox entries in bulk a page at a time, checkpointing each page),
not delivery on push ways.
Results: a table on stdout and `bench/results/fanout-<UTC time>.json` (also `fanout-latest.json`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp

from bench.run import (
    BENCH_EMAIL,
    STARTERS,
    ModeFailed,
    Options,
    Running,
    _api,
    _cpu_seconds,
    _sign_in,
    infrastructure_problem,
    machine_facts,
    note,
    parse_options,
    positive,
    ratio_text,
    run_mode,
    write_report,
)
from shared.data import fanout_jobs, inbox, subscriptions
from shared.ids import now_ms
from shared.logs import configure_logging
from shared.store import Document, Store
from tests.integration.processes import Process, free_port, start, wait_ready

MODES = ("standalone", "distributed")
POLL_SECONDS = 0.1
RSS_SAMPLE_SECONDS = 0.1
WEAK_NOTE = (
    "every subscriber is weak (inbox only): the figure measures the expansion (subscriptions read in one "
    "pass into a roster, inbox entries written in bulk a page at a time, each page checkpointed), not "
    "delivery on push ways"
)


@dataclass(frozen=True)
class FanoutOptions:
    subscribers: int
    page: int
    timeout: float
    modes: tuple[str, ...]
    base: Options


def _rss_mb(pid: int) -> float | None:
    """VmRSS of a running process in MB, from /proc (None once it has gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return None


class RssSampler:
    """Samples one process's RSS in the background; `peak` is the largest seen."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self.peak = 0.0
        self.first: float | None = None
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> None:
        rss = _rss_mb(self._pid)
        if rss is not None:
            self.first = rss if self.first is None else self.first
            self.peak = max(self.peak, rss)

    async def _run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(RSS_SAMPLE_SECONDS)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self.sample()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


async def _start(mode: str, running: Running, workdir: Path, options: Options) -> Process:
    """Start the mode; return the process that expands group pushes."""
    await STARTERS[mode](running, workdir, options)
    if mode == "standalone":
        return running.processes[0]
    assert running.deployment is not None
    # A group push is checked by moderation before fanout expands it.
    started = [
        start(service, ["serve", service], running.deployment.env, workdir, free_port())
        for service in ("moderation", "fanout")
    ]
    running.processes.extend(started)
    for process in started:
        try:
            await wait_ready(process)
        except AssertionError as error:
            raise ModeFailed(f"{process.name} did not become ready", str(error)[-4000:]) from None
    return started[-1]


def _subscription(link_id: str, n: int, now: int) -> Document:
    user_id = f"{n:024x}"
    return {
        "_id": subscriptions.subscription_id(link_id, user_id),
        "linkId": link_id,
        "userId": user_id,
        "strong": False,
        "topics": [],
        "allTopics": True,
        "version": 0,
        "createdAt": now,
        "updatedAt": now,
    }


async def _bulk_insert(store: Store, link_id: str, count: int, page: int) -> float:
    """Write `count` weak subscriptions to the link, `page` a call; returns the seconds it took."""
    collection = store.collection(subscriptions.COLLECTION)
    now = now_ms()
    started = time.monotonic()
    for first in range(0, count, page):
        docs = [_subscription(link_id, n, now) for n in range(first, min(count, first + page))]
        written = await collection.insert_many(docs)
        if len(written) != len(docs):
            raise ModeFailed(f"bulk insert wrote {len(written)} of {len(docs)} subscriptions")
    return time.monotonic() - started


async def _wait_for_entries(
    store: Store, message_id: str, timeout: float, running: Running
) -> tuple[int, float]:
    """Wait until the message's fanout records itself done (bounded), then count its inbox entries once;
    (count, `time.monotonic()` when done was seen). The done record is read by `_id`, which costs the
    store next to nothing, where counting the entries on every poll would slow the writes measured."""
    started = time.monotonic()
    while True:
        progress = await fanout_jobs.progress_of(store, message_id)
        if progress is not None and progress.done:
            done_at = time.monotonic()
            return await inbox.count_for_message(store, message_id), done_at
        if time.monotonic() - started >= timeout:
            return await inbox.count_for_message(store, message_id), time.monotonic()
        if dead := [p.name for p in running.processes if p.popen.poll() is not None]:
            raise ModeFailed(f"exited during the fanout: {', '.join(dead)}")
        await asyncio.sleep(POLL_SECONDS)


async def _measure_mode(mode: str, options: FanoutOptions, workdir: Path) -> dict[str, Any]:
    running = Running()
    try:
        expander = await _start(mode, running, workdir, options.base)
        deployment = running.deployment
        assert deployment is not None
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            deployment.cli_json("user", "create", "--email", BENCH_EMAIL)
            token = await _sign_in(session, running)
            link = await _api(
                session,
                "POST",
                f"{running.auth_url}/open/link/group",
                params={"token": token},
                json={"name": "bench crowd", "open": False},
            )
            store = deployment.open_store()
            try:
                note(f"fanout {mode}: inserting {options.subscribers} subscriptions")
                insert_seconds = await _bulk_insert(store, link["id"], options.subscribers, options.page)
                sampler = RssSampler(expander.popen.pid)
                sampler.start()
                cpu_before = _cpu_seconds(expander)
                pushed_at = time.monotonic()
                answer = await _api(
                    session, "POST", f"{running.push_base}/{link['key']}", json={"content": "to the crowd"}
                )
                note(f"fanout {mode}: pushed, waiting for {options.subscribers} inbox entries")
                found, done_at = await _wait_for_entries(store, answer["id"], options.timeout, running)
                seconds = done_at - pushed_at
                cpu_used = _cpu_seconds(expander) - cpu_before
                await sampler.stop()
            finally:
                await store.close()
        done = found >= options.subscribers
        return {
            "status": "ok" if done else "incomplete",
            "subscribers": options.subscribers,
            "inbox_entries": found,
            "seconds": seconds,
            "recipients_per_second": found / seconds if done else None,
            "bulk_insert_seconds": insert_seconds,
            "bulk_insert_docs_per_second": options.subscribers / insert_seconds,
            "bulk_insert_page": options.page,
            "expander_process": expander.name,
            "expander_rss_mb_at_push": sampler.first,
            "expander_rss_mb_max": sampler.peak,
            "expander_cpu_seconds": cpu_used,
            **running.names,
        }
    except ModeFailed as failure:
        failure.logs = failure.logs or running.logs()
        raise
    except Exception as error:  # whatever breaks, the mode is reported as failed with its logs
        raise ModeFailed(f"{type(error).__name__}: {error}", running.logs()) from error
    finally:
        problems = await running.stop()
        if problems:
            note(f"fanout {mode}: {'; '.join(problems)}")


def table(results: dict[str, dict[str, Any]]) -> str:
    header = (
        f"{'mode':<12} {'subscribers':>11} {'seconds':>8} {'recipients/s':>12} {'bulk docs/s':>11} "
        f"{'ratio':>7} {'max RSS MB':>10}"
    )
    lines = [header, "-" * len(header)]
    for mode, figures in results.items():
        if figures.get("status") == "failed":
            lines.append(f"{mode:<12} FAILED: {' '.join(str(figures.get('error')).split())[:120]}")
            continue
        rate = figures["recipients_per_second"]
        base = figures["bulk_insert_docs_per_second"]
        seconds = f"{figures['seconds']:.1f}" if rate is not None else f">{figures['seconds']:.0f}"
        lines.append(
            f"{mode:<12} {figures['subscribers']:>11} {seconds:>8} "
            f"{'-' if rate is None else f'{rate:.0f}':>12} {base:>11.0f} "
            f"{'-' if rate is None else ratio_text(rate / base):>7} {figures['expander_rss_mb_max']:>10.1f}"
        )
        if rate is None:
            lines.append(f"note: {mode}: {figures['inbox_entries']} inbox entries when the wait ended")
    lines.append(
        "recipients/s: subscribers over the time from the push until the fanout recorded its job done (every "
        "inbox entry written); bulk docs/s: the same store's insert_many of the subscriptions, same run; "
        "ratio: recipients/s over bulk docs/s; max RSS: the fanout process (standalone: the one process); "
        f"seconds are measured to a {POLL_SECONDS} s poll"
    )
    lines.append(f"note: {WEAK_NOTE}")
    return "\n".join(lines) + "\n"


def parse(argv: list[str] | None = None) -> FanoutOptions:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=positive(int), default=100_000)
    parser.add_argument("--page", type=positive(int), default=1000, help="documents per insert_many call")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the inbox entries")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated: " + ",".join(MODES))
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/")
    parser.add_argument("--mongo-url", default="mongodb://127.0.0.1:27017/")
    args = parser.parse_args(argv)
    modes = tuple(mode for mode in args.modes.split(",") if mode in MODES)
    if not modes:
        parser.error(f"modes are a comma-separated subset of {','.join(MODES)}")
    base = parse_options(["--amqp-url", args.amqp_url, "--mongo-url", args.mongo_url])
    return FanoutOptions(
        subscribers=args.subscribers, page=args.page, timeout=args.timeout, modes=modes, base=base
    )


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    configure_logging("console", "warning")
    machine = machine_facts()
    results: dict[str, dict[str, Any]] = {}
    for mode in options.modes:
        results[mode] = run_mode(
            "fanout",
            mode,
            partial(_measure_mode, mode, options),
            problem=infrastructure_problem(options.base) if mode == "distributed" else None,
        )
    machine["load_average_at_end"] = list(os.getloadavg())
    report = {
        "machine": machine,
        "parameters": {
            "subscribers": options.subscribers,
            "bulk_insert_page": options.page,
            "timeout_seconds": options.timeout,
            "modes": list(options.modes),
            "subscribers_weak": True,
            "poll_seconds": POLL_SECONDS,
            "note": WEAK_NOTE,
        },
        "results": results,
    }
    write_report(report, table(results), prefix="fanout-")
    failed = [mode for mode, figures in results.items() if figures.get("status") != "ok"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
