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

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from shared.store.sqlite_worker import Call, CallThread, Outcome, translate_error

T = TypeVar("T")


class SqliteReader(CallThread):
    """Runs `fn(connection)` for reads on its own thread; `submit` returns the result."""

    def __init__(self, path: Path, on_connect: Callable[[sqlite3.Connection], None]) -> None:
        super().__init__(path, on_connect, name="igot-store-read")
        self._thread.start()

    async def submit(self, fn: Callable[[sqlite3.Connection], T], empty: T) -> T:
        return await self._call(None, fn, empty)

    def _run_batch(self, batch: list[Call]) -> list[Outcome]:
        return [self._run_one(read) for read in batch]

    def _run_one(self, read: Call) -> Outcome:
        if read.future.cancelled():
            return None, None
        try:
            conn = self._connect()
            if conn is None:
                return read.empty, None
            return read.fn(conn), None
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
            self._conn = self._open("PRAGMA query_only=ON")
        return self._conn
