"""The standalone store's read thread: its own SQLite connection, so a read never queues behind writes.

The writer (`sqlite_worker.SqliteWorker`) holds its transaction open while it runs a whole group of
writes and syncs them to disk; in WAL mode a second connection reads the last committed state meanwhile.
This connection is `query_only` and in autocommit mode: every statement is its own read transaction,
started when the statement starts and ended when its rows are all fetched, so nothing keeps an old
snapshot between calls, and a read issued after a write was acknowledged (committed) sees that write.

The writer creates the file and the tables on its first write. Until then there is nothing to read: a
read of a missing file or a missing table gives the caller's empty answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from shared.store.sqlite_worker import MAX_BATCH, Call, Outcome, Stop, resolve, settle, translate_error

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Read:
    op: Call
    empty: Any  # the answer when the table does not exist yet


class SqliteReader:
    """Runs `fn(connection)` for reads on its own thread; `submit` returns the result."""

    def __init__(self, path: Path, on_connect: Callable[[sqlite3.Connection], None]) -> None:
        self._path = path
        self._on_connect = on_connect
        self._queue: queue.SimpleQueue[_Read | Stop] = queue.SimpleQueue()
        self._conn: sqlite3.Connection | None = None  # touched on the read thread only
        self._thread = threading.Thread(target=self._serve, name="igot-store-read", daemon=True)
        self._thread.start()

    async def submit(self, fn: Callable[[sqlite3.Connection], T], empty: T) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Read(Call(None, fn, loop, future), empty))
        return await future

    async def stop(self) -> None:
        """Answer every read queued so far, close the connection and end the thread."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._queue.put(Stop(loop, done))
        await done

    def stop_soon(self) -> None:
        self._queue.put(Stop())

    def _serve(self) -> None:
        while True:
            reads: list[_Read] = []
            item = self._queue.get()
            while isinstance(item, _Read):
                reads.append(item)
                if len(reads) == MAX_BATCH:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if reads:
                # answered together: one wake-up of each waiting event loop per group of reads
                settle([read.op for read in reads], [self._run_one(read) for read in reads])
            if isinstance(item, Stop):
                self._finish(item)
                return

    def _run_one(self, read: _Read) -> Outcome:
        if read.op.future.cancelled():
            return None, None
        try:
            conn = self._connect()
            if conn is None:
                return read.empty, None
            return read.op.fn(conn), None
        except sqlite3.OperationalError as exc:
            if str(exc).startswith("no such table"):
                return read.empty, None
            self._disconnect()  # start over with a fresh connection next time
            return None, translate_error(exc)
        except Exception as exc:
            return None, translate_error(exc)

    def _connect(self) -> sqlite3.Connection | None:
        """The read connection, or None while the writer has not created the file."""
        if self._conn is None:
            if not self._path.is_file():
                return None
            conn = sqlite3.connect(self._path, timeout=10.0, isolation_level=None)
            try:
                conn.execute("PRAGMA query_only=ON")
                self._on_connect(conn)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _disconnect(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def _finish(self, stop: Stop) -> None:
        try:
            self._disconnect()
        finally:
            if stop.loop is not None and stop.future is not None:
                done: list[tuple[asyncio.Future[Any], Outcome]] = [(stop.future, (None, None))]
                with contextlib.suppress(RuntimeError):
                    stop.loop.call_soon_threadsafe(resolve, done)
