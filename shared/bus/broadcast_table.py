"""The in-process bus's broadcast table in the standalone SQLite store: signals for the other processes.

A broadcast (a message whose model is marked `BROADCAST`) must reach the broadcast subscribers of every
bus over the same file, including those of other processes: an admin command (`igot user disable`) runs
in a process of its own and the running server's caches must hear it. Buses over the same store object
hand each other their copies in memory; for the rest, the publisher adds a row here in the same
transaction as its other writes, and every bus with broadcast subscribers reads, every poll interval,
the rows newer than the last one it saw that another store object wrote (`origin`).

Rows are kept `KEEP_MS` and then pruned by the next publish: a copy is delivered at most once and only
to a bus running at the time, as on RabbitMQ; a bus that could not read for longer than that misses it
(caches fed by broadcasts expire on their own anyway). `seq` only grows (AUTOINCREMENT) and SQLite
admits one writer at a time, so once a row is visible every row before it is. Every function runs
inside `SqliteStore.transact`. Times are epoch milliseconds.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from shared.bus.queue_table import Row, now_ms

TABLE = "_bus_broadcast"
KEEP_MS = 60_000

_SCHEMA = (
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        routing_key TEXT NOT NULL,
        body BLOB NOT NULL,
        headers TEXT NOT NULL,
        transport_id TEXT NOT NULL,
        origin TEXT NOT NULL,
        published_at INTEGER NOT NULL
    )""",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_by_time ON {TABLE} (published_at)",
)


@dataclass(frozen=True)
class Signal:
    routing_key: str
    body: bytes
    headers: dict[str, str]
    transport_id: str


def _ensure(conn: sqlite3.Connection) -> None:
    for statement in _SCHEMA:
        conn.execute(statement)


def insert(conn: sqlite3.Connection, signals: Sequence[Signal], origin: str) -> None:
    """Add the signals and prune the rows older than `KEEP_MS`."""
    _ensure(conn)
    now = now_ms()
    conn.execute(f"DELETE FROM {TABLE} WHERE published_at < ?", (now - KEEP_MS,))
    conn.executemany(
        f"INSERT INTO {TABLE} (routing_key, body, headers, transport_id, origin, published_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [
            (signal.routing_key, signal.body, json.dumps(signal.headers), signal.transport_id, origin, now)
            for signal in signals
        ],
    )


def latest(conn: sqlite3.Connection) -> int:
    """The newest row's `seq` (0 when there is none): a bus that starts listening reads from there."""
    _ensure(conn)
    found = conn.execute(f"SELECT seq FROM sqlite_sequence WHERE name = '{TABLE}'").fetchone()
    return int(found[0]) if found else 0


def since(conn: sqlite3.Connection, after: int, limit: int) -> list[tuple[int, str, Row]]:
    """Up to `limit` rows newer than `after`, oldest first, each as `(seq, origin, row)`."""
    _ensure(conn)
    found = conn.execute(
        f"SELECT seq, origin, routing_key, body, headers, transport_id FROM {TABLE} WHERE seq > ?"
        " ORDER BY seq LIMIT ?",
        (after, limit),
    ).fetchall()
    return [
        (int(seq), str(origin), Row(0, "", str(key), bytes(body), json.loads(headers), str(transport)))
        for seq, origin, key, body, headers, transport in found
    ]
