"""`make bench`: push ingress throughput and latency of iGot, each figure next to a baseline of the same run.

Modes, each started as real processes on 127.0.0.1 and loaded by `bench.load` in its own process:

* baseline    — a bare aiohttp endpoint (`bench.baseline`) that answers like push ingress, storing nothing;
* standalone  — `igot standalone` on a fresh data directory;
* distributed — `igot migrate`, then `igot serve auth|dispatcher|gateway` on RabbitMQ and the
  MongoDB-compatible server, with a database and an exchange of its own, removed afterwards.

For the iGot modes every accepted id must reach the inbox: after the load the harness waits (bounded) until
the inbox count reaches the number of accepted ids, and reports the drain time and what was lost (accepted
but still missing from the inbox when the wait ended).
Results are printed as a table and written to `bench/results/<UTC time>.json` and `bench/results/latest.json`;
the exit status is 1 when a mode failed or its inbox did not receive every accepted push.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
import pymongo

from shared.logs import configure_logging
from tests.integration.processes import (
    Deployment,
    Process,
    base_env,
    drop_database,
    free_port,
    remove_broker_namespace,
    start,
    wait_ready,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results"
MODES = ("baseline", "standalone", "distributed")
BENCH_EMAIL = "bench@example.com"
RETRY_DELAYS = (1.0, 5.0, 30.0, 120.0)
# Benchmarks measure throughput from one client through one key: the push rate limits are off.
LIMITS_OFF = {"push_rate_per_key": "0", "push_rate_per_ip": "0"}
LOG_TAIL_CHARS = 4000
ERROR_WIDTH = 160
CLIENT_BOUND_SHARE = 0.9
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Options:
    duration: float
    warmup: float
    concurrency: int
    modes: tuple[str, ...]
    drain_timeout: float
    request_timeout: float
    amqp_url: str
    mongo_url: str
    # Settings every iGot process of the run gets on top of the mode's own (`IGOT_` names, lower case).
    settings: tuple[tuple[str, str], ...] = ()


class ModeFailed(Exception):
    """A mode could not be measured; `logs` holds the tail of its processes' output."""

    def __init__(self, reason: str, logs: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.logs = logs


@dataclass
class Running:
    """What one mode has started: where pushes go, where sign-in goes, and its processes."""

    push_base: str = ""
    auth_url: str = ""
    processes: list[Process] = field(default_factory=list)
    deployment: Deployment | None = None
    cleanups: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.log()[-LOG_TAIL_CHARS:]}" for p in self.processes)

    async def stop(self) -> list[str]:
        """Stop every process, then undo what the mode created; returns the problems met doing so."""
        problems: list[str] = []
        for process in reversed(self.processes):
            code = await asyncio.to_thread(process.stop)
            if code not in (0, -15):
                problems.append(f"{process.name} exited with {code}")
        for cleanup in self.cleanups:
            try:
                await cleanup()
            except Exception as error:  # a failed clean-up is reported, never fatal
                problems.append(f"clean-up failed: {error!r}")
        return problems


# -- starting the modes ---------------------------------------------------------------------------------


def _spawn_baseline(workdir: Path) -> Process:
    port = free_port()
    log_path = workdir / "baseline.log"
    with log_path.open("wb") as log_file:
        popen = subprocess.Popen(
            [sys.executable, "-m", "bench.baseline", "--port", str(port)],
            cwd=ROOT,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    return Process(name="baseline", popen=popen, log_path=log_path, url=f"http://127.0.0.1:{port}")


def _deployment(running: Running, env: dict[str, str], workdir: Path) -> Deployment:
    """The CLI side of a deployment (`igot user ...` on its store), sharing the mode's process list."""
    return Deployment(env=env, gateway_url="", auth_url="", workdir=workdir, processes=running.processes)


async def _start_baseline(running: Running, workdir: Path, options: Options) -> None:
    process = _spawn_baseline(workdir)
    running.processes.append(process)
    running.push_base = process.url
    await _ready(running)


async def _start_standalone(running: Running, workdir: Path, options: Options) -> None:
    env = base_env(workdir, **{**LIMITS_OFF, **dict(options.settings)})
    deployment = running.deployment = _deployment(running, env, workdir)
    process = start("standalone", ["standalone"], env, workdir, free_port())
    running.processes.append(process)
    deployment.gateway_url = deployment.auth_url = running.push_base = running.auth_url = process.url
    await _ready(running)


async def _start_distributed(running: Running, workdir: Path, options: Options) -> None:
    namespace = f"bench{uuid.uuid4().hex[:12]}"
    exchange = f"igot-{namespace}"
    env = base_env(
        workdir,
        mode="distributed",
        amqp_url=options.amqp_url,
        mongo_url=options.mongo_url,
        mongo_db=namespace,
        bus_exchange=exchange,
        **{"bus_retry_delays": json.dumps(RETRY_DELAYS), **LIMITS_OFF, **dict(options.settings)},
    )
    deployment = running.deployment = _deployment(running, env, workdir)
    running.names = {"mongo_db": namespace, "bus_exchange": exchange}
    running.cleanups.append(lambda: asyncio.to_thread(drop_database, options.mongo_url, namespace))
    # The delay queues to remove are those of the delays the run used.
    delays = tuple(json.loads(dict(options.settings).get("bus_retry_delays", json.dumps(RETRY_DELAYS))))
    running.cleanups.append(lambda: remove_broker_namespace(options.amqp_url, exchange, delays))
    try:
        deployment.cli("migrate")
    except AssertionError as error:
        raise ModeFailed("igot migrate failed", str(error)[-LOG_TAIL_CHARS:]) from None
    for service in ("auth", "dispatcher", "gateway"):
        running.processes.append(start(service, ["serve", service], env, workdir, free_port()))
    by_name = {process.name: process for process in running.processes}
    deployment.auth_url = running.auth_url = by_name["auth"].url
    deployment.gateway_url = running.push_base = by_name["gateway"].url
    await _ready(running)


STARTERS: dict[str, Callable[[Running, Path, Options], Awaitable[None]]] = {
    "baseline": _start_baseline,
    "standalone": _start_standalone,
    "distributed": _start_distributed,
}


async def _ready(running: Running) -> None:
    for process in running.processes:
        try:
            await wait_ready(process)
        except AssertionError as error:
            raise ModeFailed(f"{process.name} did not become ready", str(error)[-LOG_TAIL_CHARS:]) from None


def infrastructure_problem(options: Options) -> str | None:
    try:
        client: pymongo.MongoClient[dict[str, Any]]
        with pymongo.MongoClient(options.mongo_url, serverSelectionTimeoutMS=3000) as client:
            client.admin.command("ping")
    except pymongo.errors.PyMongoError as error:
        return f"MongoDB-compatible server not reachable at {options.mongo_url}: {error}"

    async def amqp_ping() -> None:
        connection = await asyncio.wait_for(aio_pika.connect(options.amqp_url), 5.0)
        await connection.close()

    try:
        asyncio.run(amqp_ping())
    except Exception as error:  # any failure to connect means the mode cannot run
        return f"RabbitMQ not reachable: {error!r}"
    return None


# -- measuring ------------------------------------------------------------------------------------------


def _cpu_seconds(process: Process) -> float:
    """User + system CPU time of a running process, from /proc (0.0 once it has gone)."""
    try:
        stat = Path(f"/proc/{process.popen.pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


async def run_load_process(push_url: str, options: Options, *, stamp: bool = False) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "bench.load",
        "--url",
        push_url,
        "--concurrency",
        str(options.concurrency),
        "--duration",
        str(options.duration),
        "--warmup",
        str(options.warmup),
        "--request-timeout",
        str(options.request_timeout),
        *(["--stamp"] if stamp else []),
    ]
    load = await asyncio.create_subprocess_exec(
        *command, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    limit = options.warmup + options.duration + options.request_timeout + 30.0
    try:
        stdout, stderr = await asyncio.wait_for(load.communicate(), limit)
    except TimeoutError:
        load.kill()
        await load.wait()
        raise ModeFailed(f"load generator still running after {limit:.0f}s") from None
    if load.returncode != 0:
        raise ModeFailed(f"load generator failed ({load.returncode})", stderr.decode(errors="replace"))
    result: dict[str, Any] = json.loads(stdout)
    return result


async def _api(session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
    async with session.request(method, url, **kwargs) as response:
        answer = await response.json(content_type=None)
    if not isinstance(answer, dict) or answer.get("ret") != 0:
        raise ModeFailed(f"{method} {url.split('?')[0]} answered {response.status}: {answer}")
    data: dict[str, Any] = answer.get("data") or {}
    return data


async def _sign_in(session: aiohttp.ClientSession, running: Running) -> str:
    assert running.deployment is not None
    code = running.deployment.cli_json("user", "login-code", BENCH_EMAIL)["code"]
    data = await _api(session, "POST", f"{running.auth_url}/open/user/login", json={"code": code})
    token: str = data["token"]
    return token


async def _inbox_count(session: aiohttp.ClientSession, running: Running, token: str) -> int:
    query = {"token": token, "index": "1", "size": "1"}
    data = await _api(session, "GET", f"{running.push_base}/open/message/", params=query)
    count: int = data["count"]
    return count


async def _drain(
    session: aiohttp.ClientSession, running: Running, token: str, accepted: int, options: Options
) -> dict[str, Any]:
    """Wait until the inbox holds every accepted id (bounded); then how long it took and what is missing."""
    started = time.monotonic()
    deadline = started + options.drain_timeout
    count, reached_at = -1, None
    for _ in range(int(options.drain_timeout / 0.25) + 1):
        count = await _inbox_count(session, running, token)
        if count >= accepted:
            reached_at = time.monotonic()
            break
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.25)
    return {
        "inbox_count": count,
        "drain_seconds": None if reached_at is None else reached_at - started,
        "drained": reached_at is not None,
        "lost": max(0, accepted - count),
        "beyond_acknowledged": max(0, count - accepted),
        "waited_seconds": time.monotonic() - started,
        # accepted ids over the time from the first push until the inbox held them all
        "end_to_end_per_second": None
        if reached_at is None
        else accepted / (options.warmup + options.duration + (reached_at - started)),
    }


async def _exercise(running: Running, options: Options) -> dict[str, Any]:
    """Load a started mode; for iGot also sign in first and check afterwards that nothing was lost."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        key, token = "0" * 24, ""
        if running.deployment is not None:
            key = running.deployment.cli_json("user", "create", "--email", BENCH_EMAIL)["key"]
            token = await _sign_in(session, running)
        cpu_before = sum(_cpu_seconds(process) for process in running.processes)
        load = await run_load_process(f"{running.push_base}/{key}", options)
        cpu_used = sum(_cpu_seconds(process) for process in running.processes) - cpu_before
        dead = [process.name for process in running.processes if process.popen.poll() is not None]
        if dead:
            raise ModeFailed(f"exited during the load: {', '.join(dead)}")
        figures: dict[str, Any] = {
            "status": "ok",
            **load,
            "server_cpu_ms_per_request": cpu_used * 1000.0 / max(1, load["total_sent"]),
            "server_processes": [process.name for process in running.processes],
            **running.names,
        }
        if token:
            accepted = load["total_accepted_ids"]
            try:
                figures["durability"] = await _drain(session, running, token, accepted, options)
            except (ModeFailed, aiohttp.ClientError, TimeoutError, KeyError) as error:
                # the load figures stand; the check that nothing was lost could not be made
                figures["durability"] = {"error": f"{type(error).__name__}: {error}", "drained": False}
    return figures


async def _measure(mode: str, options: Options, workdir: Path) -> dict[str, Any]:
    """Start a mode, load it, stop it and undo what it created, whatever happened in between."""
    running = Running()
    try:
        await STARTERS[mode](running, workdir, options)
        figures = await _exercise(running, options)
    except ModeFailed as failure:
        failure.logs = failure.logs or running.logs()
        raise
    except Exception as error:  # whatever breaks, the mode is reported as failed with its logs
        raise ModeFailed(f"{type(error).__name__}: {error}", running.logs()) from error
    finally:
        stop_problems = await running.stop()
        if stop_problems:
            note(f"{mode}: {'; '.join(stop_problems)}")
    if stop_problems:
        figures["stop_problems"] = stop_problems
    return figures


def _run_mode(mode: str, options: Options) -> dict[str, Any]:
    note(f"{mode}: starting")
    if mode == "distributed":
        problem = infrastructure_problem(options)
        if problem:
            return {"status": "failed", "error": problem, "logs": ""}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"igot-bench-{mode}-") as workdir:
        try:
            figures = asyncio.run(_measure(mode, options, Path(workdir)))
        except ModeFailed as failure:
            note(f"{mode}: FAILED: {failure.reason}")
            if failure.logs:
                sys.stderr.write(f"{failure.logs}\n")
            return {"status": "failed", "error": failure.reason, "logs": failure.logs}
    figures["mode_seconds"] = time.monotonic() - started
    note(f"{mode}: done in {figures['mode_seconds']:.1f}s")
    return figures


# -- reporting ------------------------------------------------------------------------------------------


def run_mode(
    part: str,
    mode: str,
    measure: Callable[[Path], Coroutine[Any, Any, dict[str, Any]]],
    *,
    problem: str | None = None,
) -> dict[str, Any]:
    """One mode of a bench part (`measure`, in a temporary directory of its own): its figures, or a failed
    status with the reason (`problem`: a reason known before starting; the logs go to stderr)."""
    note(f"{part} {mode}: starting")
    if problem is not None:
        return {"status": "failed", "error": problem}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"igot-bench-{part}-{mode}-") as workdir:
        try:
            figures = asyncio.run(measure(Path(workdir)))
        except ModeFailed as failure:
            note(f"{part} {mode}: FAILED: {failure.reason}")
            if failure.logs:
                sys.stderr.write(f"{failure.logs}\n")
            return {"status": "failed", "error": failure.reason}
    note(f"{part} {mode}: done in {time.monotonic() - started:.1f}s")
    return figures


def note(text: str) -> None:
    sys.stderr.write(f"bench: {text}\n")
    sys.stderr.flush()


def machine_facts() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "load_average_at_start": list(os.getloadavg()),
    }


def _table(results: dict[str, dict[str, Any]]) -> str:
    baseline = results.get("baseline", {})
    base_rate = baseline.get("accepted_per_second") if baseline.get("status") == "ok" else None
    header = (
        f"{'mode':<12} {'accepted/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>7} "
        f"{'vs base':>8} {'lost':>5} {'drain s':>8} {'cpu ms/req':>10}"
    )
    lines = [header, "-" * len(header)]
    for mode, figures in results.items():
        if figures.get("status") != "ok":
            reason = " ".join(str(figures.get("error", "unknown error")).split())
            lines.append(f"{mode:<12} FAILED: {reason[:ERROR_WIDTH]}")
            continue
        latency = figures["latency_ms"]
        rate = figures["accepted_per_second"]
        ratio = ratio_text(rate / base_rate) if base_rate else "-"
        durability = figures.get("durability")
        lost, drain = "-", "-"
        if durability is not None and "error" in durability:
            lost, drain = "?", "?"
        elif durability is not None:
            lost = str(durability["lost"])
            seconds = durability["drain_seconds"]
            drain = f"{seconds:.1f}" if seconds is not None else f">{durability['waited_seconds']:.0f}"
        lines.append(
            f"{mode:<12} {rate:>10.1f} {latency['p50']:>8.1f} {latency['p99']:>8.1f} {latency['max']:>8.1f} "
            f"{figures['errors']:>7} {ratio:>8} {lost:>5} {drain:>8} "
            f"{figures['server_cpu_ms_per_request']:>10.2f}"
        )
    lines.append(
        "cpu ms/req: CPU time of the server processes started for the mode (RabbitMQ and the database "
        "not included) per request sent"
    )
    lines.extend(_notes(results))
    return "\n".join(lines) + "\n"


def ratio_text(value: float) -> str:
    return f"{value:.3f}x" if value < 0.1 else f"{value:.2f}x"


def _notes(results: dict[str, dict[str, Any]]) -> list[str]:
    """What a reader needs to weigh the figures: a saturated load generator, a mode that did not drain."""
    notes: list[str] = []
    for mode, figures in results.items():
        if figures.get("status") != "ok":
            continue
        share = figures["client_cpu_share"]
        if share >= CLIENT_BOUND_SHARE:
            notes.append(
                f"note: {mode}: the load generator used {share:.0%} of a core, so {mode} was limited by "
                "the client: its figure is a lower bound"
            )
        durability = figures.get("durability")
        if durability is not None and "error" in durability:
            notes.append(f"note: {mode}: the inbox could not be checked: {durability['error']}")
        elif durability is not None and not durability["drained"]:
            notes.append(
                f"note: {mode}: the inbox held {durability['inbox_count']} of "
                f"{figures['total_accepted_ids']} accepted after {durability['waited_seconds']:.0f}s"
            )
    return notes


def write_report(report: dict[str, Any], table_text: str, *, prefix: str = "") -> None:
    """Print the table, then write `bench/results/<prefix><UTC time>.json` and the same as
    `<prefix>latest.json`, and say where."""
    sys.stdout.write(table_text)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(report, indent=2) + "\n"
    path = RESULTS_DIR / f"{prefix}{stamp}.json"
    path.write_text(text)
    latest = RESULTS_DIR / f"{prefix}latest.json"
    latest.write_text(text)
    sys.stdout.write(f"results: {path.relative_to(ROOT)} (also {latest.relative_to(ROOT)})\n")


# -- command line ---------------------------------------------------------------------------------------


def positive(kind: Callable[[str], float]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive: {text}")
        return value

    return parse


def _modes(text: str) -> tuple[str, ...]:
    modes = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [mode for mode in modes if mode not in MODES]
    if unknown or not modes:
        raise argparse.ArgumentTypeError(f"modes are a comma-separated subset of {','.join(MODES)}")
    return modes


def parse_options(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=positive(float), default=10.0, help="measured seconds per mode")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before measuring")
    parser.add_argument("--concurrency", type=positive(int), default=64, help="concurrent clients")
    parser.add_argument("--modes", type=_modes, default=MODES, help="comma-separated: " + ",".join(MODES))
    parser.add_argument("--drain-timeout", type=positive(float), default=120.0)
    parser.add_argument("--request-timeout", type=positive(float), default=10.0)
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/")
    parser.add_argument("--mongo-url", default="mongodb://127.0.0.1:27017/")
    args = parser.parse_args(argv)
    if args.warmup < 0:
        parser.error("--warmup must not be negative")
    return Options(
        duration=args.duration,
        warmup=args.warmup,
        concurrency=args.concurrency,
        modes=args.modes,
        drain_timeout=args.drain_timeout,
        request_timeout=args.request_timeout,
        amqp_url=args.amqp_url,
        mongo_url=args.mongo_url,
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    configure_logging("console", "warning")  # the report is the output; the bus's own events are noise here
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    machine = machine_facts()
    results: dict[str, dict[str, Any]] = {}
    for mode in options.modes:
        results[mode] = _run_mode(mode, options)
    machine["load_average_at_end"] = list(os.getloadavg())
    report = {
        "started_at": started_at,
        "machine": machine,
        "parameters": {
            "duration_seconds": options.duration,
            "warmup_seconds": options.warmup,
            "concurrency": options.concurrency,
            "modes": list(options.modes),
            "drain_timeout_seconds": options.drain_timeout,
            "request_timeout_seconds": options.request_timeout,
        },
        "modes": results,
    }
    write_report(report, _table(results))
    failed = [mode for mode, figures in results.items() if figures.get("status") != "ok"]
    not_drained = [
        mode
        for mode, figures in results.items()
        if figures.get("durability") and not figures["durability"]["drained"]
    ]
    return 1 if failed or not_drained else 0


if __name__ == "__main__":
    sys.exit(main())
