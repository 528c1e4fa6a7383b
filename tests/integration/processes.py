"""Start iGot as users do (`igot standalone`, `igot serve <service>`) as real processes; wait on them."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pymongo

from igot.runtime import declare_topology
from shared.bus.amqp import AmqpBus
from shared.store import Store
from shared.store.mongo import MongoStore
from shared.store.sqlite import SqliteStore

IGOT = [sys.executable, "-m", "igot.cli"]
SUITE_PUSH_RATE = 100_000  # pushes per minute, per key and per client address


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    url: str

    def stop(self, timeout: float = 30.0) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Deployment:
    """One running iGot: where pushes go, where sign-in goes, and how to run the CLI against its store."""

    env: dict[str, str]
    gateway_url: str
    auth_url: str
    workdir: Path
    processes: list[Process] = field(default_factory=list)

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [*IGOT, *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            raise AssertionError(f"igot {' '.join(args)} failed: {result.stderr}")
        return result.stdout

    def cli_json(self, *args: str) -> dict[str, Any]:
        answer: dict[str, Any] = json.loads(self.cli(*args, "--json"))
        return answer

    def open_store(self) -> Store:
        """The deployment's own store, opened from its settings (close it after use)."""
        if self.env.get("IGOT_MODE") == "distributed":
            return MongoStore(self.env["IGOT_MONGO_URL"], self.env["IGOT_MONGO_DB"])
        return SqliteStore(Path(self.env["IGOT_DATA_DIR"]) / "igot.sqlite3")

    def stop(self) -> dict[str, int]:
        """SIGTERM every process, last started first; return their exit codes."""
        return {process.name: process.stop() for process in reversed(self.processes)}

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.log()[-4000:]}" for p in self.processes)


def start(name: str, args: list[str], env: dict[str, str], workdir: Path, port: int) -> Process:
    log_path = workdir / f"{name}.log"
    log_file = log_path.open("wb")
    popen = subprocess.Popen(
        [*IGOT, *args, "--port", str(port)], env=env, cwd=workdir, stdout=log_file, stderr=subprocess.STDOUT
    )
    return Process(name=name, popen=popen, log_path=log_path, url=f"http://127.0.0.1:{port}")


async def wait_ready(process: Process, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if process.popen.poll() is not None:
                raise AssertionError(f"{process.name} exited early:\n{process.log()}")
            try:
                async with session.get(f"{process.url}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"{process.name} not ready in {timeout}s:\n{process.log()}")


def distributed_settings(amqp_url: str, mongo_url: str, namespace: str) -> dict[str, str]:
    """The settings of a distributed deployment with a database and an exchange of its own."""
    return {
        "mode": "distributed",
        "amqp_url": amqp_url,
        "mongo_url": mongo_url,
        "mongo_db": namespace,
        "bus_exchange": f"igot-{namespace}",
    }


def base_env(workdir: Path, **settings: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("IGOT_")}
    env.update({"IGOT_DATA_DIR": str(workdir / "data"), "IGOT_LOG_FORMAT": "json", "IGOT_LOG_LEVEL": "info"})
    # The fake Bark servers and webhook receivers listen on loopback, which the outbound guard refuses.
    env["IGOT_ALLOW_PRIVATE_TARGETS"] = "true"
    # Every test pushes from loopback, some in bursts of hundreds through one key: the push limits stay
    # on (and in the store) but out of reach; the rate-limit tests set their own.
    env["IGOT_PUSH_RATE_PER_KEY"] = env["IGOT_PUSH_RATE_PER_IP"] = str(SUITE_PUSH_RATE)
    env.update({f"IGOT_{key.upper()}": value for key, value in settings.items()})
    return env


async def remove_broker_namespace(amqp_url: str, exchange: str, retry_delays: tuple[float, ...]) -> None:
    """Delete the exchange and every queue a deployment with these settings declared on RabbitMQ."""
    bus = AmqpBus(amqp_url, exchange=exchange, prefetch=1, retry_delays=retry_delays)
    await bus.start()
    try:
        await declare_topology(bus)
        await bus.delete_declared()
    finally:
        await bus.stop()


def drop_database(mongo_url: str, name: str) -> None:
    client: pymongo.MongoClient[dict[str, object]]
    with pymongo.MongoClient(mongo_url, serverSelectionTimeoutMS=5000) as client:
        client.drop_database(name)
