"""The standalone store's write thread: one SQLite connection, waiting calls grouped into one transaction.

Callers queue operations; the thread takes everything that is waiting (up to `MAX_BATCH`) and runs it in
one `BEGIN IMMEDIATE` ... `COMMIT`, each operation inside its own savepoint. An operation that fails is
rolled back to its savepoint and raises to its own caller alone; the others go on. Every caller hears
back only after the COMMIT returned, so nothing is reported stored before it is as durable as the
`synchronous` setting makes it. If the COMMIT fails, or SQLite gives the transaction up (I/O error, disk
full), every operation of the batch fails with `StoreUnavailableError` and nothing of it is kept.

Operations run in queue order on one thread, so every result is the one running them one after another
would give, and a read-modify-write never interleaves with anything; `BEGIN IMMEDIATE` also keeps other
processes sharing the file out for the duration of a batch. Plain reads do not come here: they run on
`sqlite_reader.SqliteReader`'s connection, so they never wait for a batch and its disk sync.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from shared.store.port import DuplicateKeyError, StoreError, StoreUnavailableError

T = TypeVar("T")
MAX_BATCH = 256

Outcome = tuple[Any, BaseException | None]  # (result, error)


def make_private(path: Path) -> None:
    """Create the store's directory (0700) and file (0600) for iGot's user alone: they hold push keys and
    message bodies. What exists already is tightened (group and other bits removed), never loosened; a
    file or directory owned by someone else is left as it is."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    # SQLite gives its -wal and -shm files the mode of the database file; older installs may have them.
    for each in (path.parent, path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(OSError):
            mode = each.stat().st_mode & 0o777
            if mode & 0o077:
                each.chmod(mode & ~0o077)


@dataclass(frozen=True, slots=True)
class Call:
    table: str | None  # created on first use (writes)
    fn: Callable[[sqlite3.Connection], Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    empty: Any = None  # reads: the answer while the table does not exist yet


@dataclass(frozen=True, slots=True)
class Stop:
    loop: asyncio.AbstractEventLoop | None = None
    future: asyncio.Future[Any] | None = None


def translate_error(exc: Exception) -> BaseException:
    """The store error for what an operation raised; errors of the store's own kind pass unchanged."""
    error: BaseException
    if isinstance(exc, sqlite3.IntegrityError):
        error = DuplicateKeyError(str(exc)) if "UNIQUE" in str(exc) else StoreError(str(exc))
    elif isinstance(exc, sqlite3.DatabaseError | OSError):  # I/O, locked, corrupt, closed
        error = StoreUnavailableError(f"{type(exc).__name__}: {exc}")
    else:
        return exc
    error.__cause__ = exc
    return error


def _unavailable(exc: Exception) -> StoreUnavailableError:
    error = StoreUnavailableError(f"{type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error


def resolve(results: list[tuple[asyncio.Future[Any], Outcome]]) -> None:
    """Runs on the callers' event loop."""
    for future, (value, error) in results:
        if future.done():  # cancelled meanwhile
            continue
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(error)


def settle(ops: list[Call], outcomes: list[Outcome]) -> None:
    """Hand the outcomes over, with one wake-up per event loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Outcome]]] = {}
    for op, outcome in zip(ops, outcomes, strict=True):
        by_loop.setdefault(op.loop, []).append((op.future, outcome))
    for loop, results in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
            loop.call_soon_threadsafe(resolve, results)


class CallThread:
    """A thread of its own with one SQLite connection, serving queued calls a group at a time.

    Subclasses say how a group runs (`_run_batch`) and how the connection closes (`_disconnect`).
    """

    def __init__(self, path: Path, on_connect: Callable[[sqlite3.Connection], None], *, name: str) -> None:
        self._path = path
        self._on_connect = on_connect
        self._queue: queue.SimpleQueue[Call | Stop] = queue.SimpleQueue()
        self._conn: sqlite3.Connection | None = None  # touched on the thread only
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)

    async def _call(self, table: str | None, fn: Callable[[sqlite3.Connection], T], empty: Any = None) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(Call(table, fn, loop, future, empty))
        return await future

    async def stop(self) -> None:
        """Finish every call queued so far, close the connection and end the thread."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._queue.put(Stop(loop, done))
        await done

    def stop_soon(self) -> None:
        """Like `stop`, without waiting (for when the store is dropped unclosed)."""
        self._queue.put(Stop())

    def _serve(self) -> None:
        while True:
            batch: list[Call] = []
            item = self._queue.get()
            while isinstance(item, Call):
                batch.append(item)
                if len(batch) == MAX_BATCH:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                # answered together: one wake-up of each waiting event loop per group
                settle(batch, self._run_batch(batch))
            if isinstance(item, Stop):
                self._finish(item)
                return

    def _finish(self, stop: Stop) -> None:
        try:
            self._disconnect()
        finally:
            if stop.loop is not None and stop.future is not None:
                done: list[tuple[asyncio.Future[Any], Outcome]] = [(stop.future, (None, None))]
                with contextlib.suppress(RuntimeError):
                    stop.loop.call_soon_threadsafe(resolve, done)

    def _run_batch(self, batch: list[Call]) -> list[Outcome]:
        raise NotImplementedError

    def _open(self, *pragmas: str) -> sqlite3.Connection:
        """A connection to the file, in autocommit mode, `pragmas` run and the store's functions added."""
        conn = sqlite3.connect(self._path, timeout=10.0, isolation_level=None)
        try:
            for pragma in pragmas:
                conn.execute(pragma)
            self._on_connect(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _disconnect(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(sqlite3.Error):
                conn.close()


class SqliteWorker(CallThread):
    """The writer: `submit` runs `fn(connection)` in the next group commit and returns its result."""

    def __init__(
        self, path: Path, synchronous: str, on_connect: Callable[[sqlite3.Connection], None]
    ) -> None:
        super().__init__(path, on_connect, name="igot-store")
        self._synchronous = synchronous
        self._tables: set[str] = set()  # touched on the worker thread only
        self._thread.start()

    async def submit(self, table: str | None, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._call(table, fn)

    def _run_batch(self, batch: list[Call]) -> list[Outcome]:
        conn: sqlite3.Connection | None = None
        try:
            conn = self._connect()
            conn.execute("BEGIN IMMEDIATE")
            outcomes = [self._run_one(conn, op) for op in batch]
            self._commit(conn)
        except Exception as exc:
            self._abandon(conn)
            return [(None, _unavailable(exc)) for _ in batch]
        return outcomes

    def _run_one(self, conn: sqlite3.Connection, op: Call) -> Outcome:
        """Run one operation in its own savepoint; raises only when the whole transaction is lost."""
        if op.future.cancelled():  # the caller gave up before its turn came
            return None, None
        self._ensure_table(conn, op.table)
        conn.execute("SAVEPOINT op")
        value, error = None, None
        try:
            value = op.fn(conn)
        except Exception as exc:
            if not conn.in_transaction:  # SQLite rolled everything back
                raise
            conn.execute("ROLLBACK TO op")
            error = translate_error(exc)
        conn.execute("RELEASE op")
        return value, error

    def _commit(self, conn: sqlite3.Connection) -> None:
        conn.execute("COMMIT")

    def _abandon(self, conn: sqlite3.Connection | None) -> None:
        """Undo a failed batch; tables it created are gone too."""
        self._tables.clear()
        if conn is None or not conn.in_transaction:
            return
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:  # start over with a fresh connection (closing rolls back)
            with contextlib.suppress(sqlite3.Error):
                self._disconnect()

    def _ensure_table(self, conn: sqlite3.Connection, table: str | None) -> None:
        # outside the operation's savepoint: a failing first operation does not take the table with it
        if table is not None and table not in self._tables:
            conn.execute(f'CREATE TABLE IF NOT EXISTS "{table}" (id TEXT PRIMARY KEY, doc TEXT NOT NULL)')
            self._tables.add(table)

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            make_private(self._path)
            self._conn = self._open("PRAGMA journal_mode=WAL", f"PRAGMA synchronous={self._synchronous}")
        return self._conn
