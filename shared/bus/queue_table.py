"""The in-process bus's queue table in the standalone SQLite store: what makes its queues survive a restart.

One row per message per queue. `state` is `ready` (waiting, in a handler, or waiting out a retry delay
or a delayed publish until `available_at`) or `parked`. A bus instance that hands a row to a handler
claims it first: `owner` is the instance, `claimed_until` its lease, renewed while the instance runs and
cleared at `stop`. Another instance (or the same one after a restart) takes a ready row only when nobody
owns it or its lease ran out, so a row is never in two handlers at once, while a killed process's rows
come back after the lease.

The table's name starts with `_`, which no document collection name may, so the two never clash. Every
function runs inside `SqliteStore.transact`, i.e. inside the store's group commit, all or nothing.
Times are epoch milliseconds.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

TABLE = "_bus_queue"

_SCHEMA = (
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        queue TEXT NOT NULL,
        routing_key TEXT NOT NULL,
        body BLOB NOT NULL,
        headers TEXT NOT NULL,
        transport_id TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'ready',
        available_at INTEGER NOT NULL,
        owner TEXT,
        claimed_until INTEGER NOT NULL DEFAULT 0,
        error TEXT
    )""",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_by_queue ON {TABLE} (queue, state, seq)",
)
_COLUMNS = "seq, queue, routing_key, body, headers, transport_id"


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Row:
    seq: int
    queue: str
    routing_key: str
    body: bytes
    headers: Mapping[str, str]
    transport_id: str


@dataclass(frozen=True)
class NewRow:
    queue: str
    routing_key: str
    body: bytes
    headers: Mapping[str, str]
    transport_id: str
    owner: str | None  # the instance that hands it to its handler at once, if any
    delay_ms: int = 0  # a delayed publish: ready this long after it is written


def _ensure(conn: sqlite3.Connection) -> None:
    for statement in _SCHEMA:
        conn.execute(statement)


def _row(values: tuple[Any, ...]) -> Row:
    seq, queue, routing_key, body, headers, transport_id = values
    return Row(int(seq), str(queue), str(routing_key), bytes(body), json.loads(headers), str(transport_id))


def insert(conn: sqlite3.Connection, rows: Sequence[NewRow], lease_until: int) -> list[Row]:
    _ensure(conn)
    now = now_ms()
    result: list[Row] = []
    for row in rows:
        cursor = conn.execute(
            f"INSERT INTO {TABLE} (queue, routing_key, body, headers, transport_id, available_at, owner,"
            " claimed_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.queue,
                row.routing_key,
                row.body,
                json.dumps(dict(row.headers)),
                row.transport_id,
                now + row.delay_ms,
                row.owner,
                lease_until if row.owner else 0,
            ),
        )
        seq = cursor.lastrowid
        assert seq is not None
        result.append(Row(seq, row.queue, row.routing_key, row.body, row.headers, row.transport_id))
    return result


def delete(conn: sqlite3.Connection, seq: int) -> None:
    _ensure(conn)
    conn.execute(f"DELETE FROM {TABLE} WHERE seq = ?", (seq,))


def reschedule(
    conn: sqlite3.Connection, seq: int, headers: Mapping[str, str], available_at: int, lease_until: int
) -> None:
    _ensure(conn)
    conn.execute(
        f"UPDATE {TABLE} SET headers = ?, available_at = ?, claimed_until = ? WHERE seq = ?",
        (json.dumps(dict(headers)), available_at, lease_until, seq),
    )


def park(conn: sqlite3.Connection, seq: int, headers: Mapping[str, str], error: str) -> None:
    _ensure(conn)
    conn.execute(
        f"UPDATE {TABLE} SET state = 'parked', headers = ?, error = ?, owner = NULL, claimed_until = 0"
        " WHERE seq = ?",
        (json.dumps(dict(headers)), error, seq),
    )


def claim(
    conn: sqlite3.Connection, limits: Mapping[str, int], owner: str, held: Sequence[int], lease_until: int
) -> list[Row]:
    """Take up to `limits[queue]` ready rows of each queue that nobody holds, oldest first."""
    _ensure(conn)
    now = now_ms()
    held_json = json.dumps(list(held))
    taken: list[Row] = []
    for queue, limit in limits.items():
        if limit <= 0:
            continue
        found = conn.execute(
            f"SELECT {_COLUMNS} FROM {TABLE} WHERE queue = ? AND state = 'ready' AND available_at <= ?"
            " AND (owner IS NULL OR claimed_until < ?) AND seq NOT IN (SELECT value FROM json_each(?))"
            " ORDER BY seq LIMIT ?",
            (queue, now, now, held_json, limit),
        ).fetchall()
        rows = [_row(values) for values in found]
        conn.executemany(
            f"UPDATE {TABLE} SET owner = ?, claimed_until = ? WHERE seq = ?",
            [(owner, lease_until, row.seq) for row in rows],
        )
        taken.extend(rows)
    return taken


def renew(conn: sqlite3.Connection, owner: str, held: Sequence[int], lease_until: int) -> None:
    """Extend the lease of the rows this instance holds; a retry waiting longer keeps its longer lease."""
    _ensure(conn)
    conn.execute(
        f"UPDATE {TABLE} SET claimed_until = MAX(claimed_until, ?)"
        " WHERE owner = ? AND seq IN (SELECT value FROM json_each(?))",
        (lease_until, owner, json.dumps(list(held))),
    )


def release_owners(conn: sqlite3.Connection, is_gone: Callable[[str], bool]) -> int:
    """Give up the rows of every holder `is_gone` says has ended (a killed process): they are ready now,
    rather than when their lease runs out. Returns how many rows were released."""
    _ensure(conn)
    owners = [
        str(owner) for (owner,) in conn.execute(f"SELECT DISTINCT owner FROM {TABLE} WHERE owner IS NOT NULL")
    ]
    released = 0
    for owner in filter(is_gone, owners):
        released += conn.execute(
            f"UPDATE {TABLE} SET owner = NULL, claimed_until = 0 WHERE owner = ?", (owner,)
        ).rowcount
    return released


def release(conn: sqlite3.Connection, owner: str) -> None:
    _ensure(conn)
    conn.execute(f"UPDATE {TABLE} SET owner = NULL, claimed_until = 0 WHERE owner = ?", (owner,))


def parked(conn: sqlite3.Connection, queue: str, limit: int) -> list[Row]:
    _ensure(conn)
    found = conn.execute(
        f"SELECT {_COLUMNS} FROM {TABLE} WHERE queue = ? AND state = 'parked' ORDER BY seq LIMIT ?",
        (queue, limit),
    ).fetchall()
    return [_row(values) for values in found]


def unpark(
    conn: sqlite3.Connection,
    queue: str,
    limit: int | None,
    rewrite: Callable[[Mapping[str, str]], dict[str, str]],
    owner: str | None,
    lease_until: int,
) -> list[Row]:
    """Make the oldest parked rows ready again now, their headers rewritten (a fresh attempt count)."""
    _ensure(conn)
    now = now_ms()
    found = conn.execute(
        f"SELECT {_COLUMNS} FROM {TABLE} WHERE queue = ? AND state = 'parked' ORDER BY seq LIMIT ?",
        (queue, -1 if limit is None else limit),
    ).fetchall()
    rows = [replace(row, headers=rewrite(row.headers)) for row in map(_row, found)]
    conn.executemany(
        f"UPDATE {TABLE} SET state = 'ready', headers = ?, error = NULL, available_at = ?, owner = ?,"
        " claimed_until = ? WHERE seq = ?",
        [(json.dumps(dict(row.headers)), now, owner, lease_until if owner else 0, row.seq) for row in rows],
    )
    return rows
