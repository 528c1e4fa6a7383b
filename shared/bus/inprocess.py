"""The standalone bus: the port's semantics inside one process, its queues kept in the SQLite store.

Each durable queue is rows of the store's queue table (`shared.bus.queue_table`): `publish` returns once
its rows are committed (that commit is the publisher confirm). A handler's own publishes are held back and
committed in the same transaction that removes, reschedules or parks the message it handles, so a message
leaves its queue exactly when what its handler published is safe; a process killed in between handles the
message again (handlers are idempotent) and loses none of its onward messages.

Rows committed by this process are handed to the queue's consumer in memory at once. A poller claims, every
`poll_interval`, the ready rows nobody holds: what a killed process left, retries that came due after a
restart, delayed publishes once they are due (written with a later `available_at` and nobody's),
parked messages `igot dlq replay` sent back from another process. A retry is the row rescheduled
(`available_at`) plus a timer; a parked row stays parked across restarts until replayed. A row is in one
handler at a time: the instance handing it over holds a lease on it (`lease_seconds`), renewed while it
runs and given up at `stop`. A killed process's rows come back once their lease ran out, or at once when
a bus starts on the same machine and finds that the process holding them has ended (holders are named
`<host>/<pid>/<instance>`), which is what a restarted standalone server does.

Bindings live in memory and are rebuilt by every start (`declare`, `subscribe`). Broadcast subscriptions
are in memory: every running bus over the same store object (every replica in this process) gets its own
copy of a matching message at once, never retried. A broadcast (a model marked `BROADCAST`) also reaches
the buses over the same file in other processes (an admin command tells the running server): it is
written to the store's broadcast table (`shared.bus.broadcast_table`) with the rest of its transaction,
and each bus with broadcast subscribers reads the new rows every `poll_interval`
(`shared.bus.inprocess_signals`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from sqlite3 import Connection

from shared.bus import broadcast_table, queue_table
from shared.bus.handling import (
    Disposition,
    Verdict,
    count_consumed,
    count_published,
    delay_ms_of,
    handle_delivery,
    publish_headers,
    replay_headers,
)
from shared.bus.inprocess_queue import HANDLER, HandlerScope, LocalQueue, Outgoing
from shared.bus.inprocess_signals import SignalReader, origin_of
from shared.bus.port import (
    ERROR_HEADER,
    ROUTING_KEY_HEADER,
    BusUnavailableError,
    ParkedMessage,
    PublishError,
    Subscription,
    binding_text,
    is_broadcast,
)
from shared.bus.queue_table import NewRow, Row
from shared.ids import new_id
from shared.logs import get_logger
from shared.messages.base import BusMessage
from shared.metrics import Metrics
from shared.store import StoreError
from shared.store.sqlite import SqliteStore

log = get_logger(__name__)
_HOST = socket.gethostname()


def holder_is_gone(owner: str) -> bool:
    """True for a holder that was a process on this machine which no longer runs."""
    host, _, rest = owner.partition("/")
    pid_text = rest.partition("/")[0]
    if host != _HOST or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


# The running buses over each store object: the replicas a broadcast reaches in memory.
_REPLICAS: weakref.WeakKeyDictionary[SqliteStore, weakref.WeakSet[InProcessBus]] = weakref.WeakKeyDictionary()


class InProcessBus:
    def __init__(
        self,
        store: SqliteStore,
        *,
        prefetch: int,
        retry_delays: Sequence[float],
        metrics: Metrics | None = None,
        stop_timeout: float = 30.0,
        poll_interval: float = 1.0,
        lease_seconds: float = 15.0,
    ) -> None:
        self._store = store
        self._prefetch = prefetch
        self._retry_delays = tuple(retry_delays)
        self._metrics = metrics
        self._stop_timeout = stop_timeout
        self._poll_interval = poll_interval
        self._lease_ms = round(lease_seconds * 1000)
        # This instance, in the `owner` column of the rows it holds; host and pid tell a later start on the
        # same machine whether the holder is still alive.
        self._owner = f"{_HOST}/{os.getpid()}/{new_id()}"
        self._orphans_released = False
        self._queues: dict[str, LocalQueue] = {}
        self._listeners: list[LocalQueue] = []
        self._held: set[int] = set()  # rows pending, in a handler or waiting out a retry here
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._poller: asyncio.Task[None] | None = None
        self._signals: SignalReader | None = None  # while this bus has broadcast subscribers
        self._wake = asyncio.Event()
        self._stopped = False

    # -- life cycle --------------------------------------------------------------------------------------

    async def start(self) -> None:
        self._stopped = False
        _REPLICAS.setdefault(self._store, weakref.WeakSet()).add(self)

    async def ping(self) -> None:
        try:
            await self._store.ping()
        except StoreError as error:
            raise BusUnavailableError(f"the queue table cannot be reached: {error}") from error

    async def stop(self) -> None:
        self._stopped = True
        _REPLICAS.get(self._store, weakref.WeakSet()).discard(self)
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        queues = [*self._queues.values(), *self._listeners]
        if self._signals is not None:
            await self._signals.stop()
            self._signals = None
        tasks = [task for task in (self._poller, *(queue.consumer for queue in queues)) if task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        in_flight = [task for queue in queues for task in queue.in_flight]
        if in_flight:
            _, late = await asyncio.wait(in_flight, timeout=self._stop_timeout)
            if late:
                # Their messages stay in the table and are handled again after the restart.
                log.warning("handlers still running at stop were cancelled", count=len(late))
                for task in late:
                    task.cancel()
                await asyncio.gather(*late, return_exceptions=True)
        if self._poller is not None:
            try:
                await self._store.transact(partial(queue_table.release, owner=self._owner))
            except StoreError as error:
                log.warning("claims not released: they expire on their own", error=str(error))
        self._poller = None
        self._held.clear()
        self._listeners.clear()
        for queue in self._queues.values():
            queue.consumer = None
            queue.pending = asyncio.Queue()

    # -- publishing --------------------------------------------------------------------------------------

    async def publish(
        self, message: BusMessage, *, headers: Mapping[str, str] | None = None, delay_seconds: float = 0
    ) -> None:
        if self._stopped:
            raise PublishError("the bus is stopped")
        delay_ms = delay_ms_of(message, delay_seconds)
        routing_key = message.routing_key
        queues = tuple(name for name, queue in self._queues.items() if queue.binds(routing_key))
        if not queues and not is_broadcast(message) and not self._listeners_for(routing_key):
            raise PublishError(f"no queue is bound to {routing_key!r}")
        body = message.model_dump_json().encode()
        outgoing = Outgoing(
            routing_key,
            body,
            publish_headers(headers),
            new_id(),
            queues,
            broadcast=is_broadcast(message),
            delay_ms=delay_ms,
        )
        scope = HANDLER.get()
        if scope is not None and scope.open and scope.bus is self:
            scope.outgoing.append(outgoing)
            return
        await self._commit([outgoing])

    async def _commit(
        self, outgoing: Sequence[Outgoing], settle: Callable[[Connection], None] | None = None
    ) -> None:
        """Write `outgoing` (and settle a handled row) in one transaction, then hand the rows over."""
        # A delayed row is nobody's: the poller claims it once it is due, here or in a later process.
        new_rows = [
            NewRow(
                queue,
                item.routing_key,
                item.body,
                item.headers,
                item.transport_id,
                None if item.delay_ms else self._holder(queue),
                item.delay_ms,
            )
            for item in outgoing
            for queue in item.queues
        ]
        lease_until = queue_table.now_ms() + self._lease_ms
        signals = [
            broadcast_table.Signal(item.routing_key, item.body, dict(item.headers), item.transport_id)
            for item in outgoing
            if item.broadcast
        ]
        origin = origin_of(self._store)

        def run(conn: Connection) -> list[Row]:
            if settle is not None:
                settle(conn)
            if signals:
                broadcast_table.insert(conn, signals, origin)
            return queue_table.insert(conn, new_rows, lease_until)

        try:
            rows = await self._store.transact(run)
        except StoreError as error:
            raise PublishError(f"the store did not take the message: {error}") from error
        for row, new in zip(rows, new_rows, strict=True):
            if new.owner is not None:
                self._take(row)
        for item in outgoing:
            count_published(self._metrics, item.routing_key)
            self._broadcast(item)

    def _holder(self, queue: str) -> str | None:
        """This instance when it consumes `queue` (the row goes to its consumer in memory), else nobody."""
        state = self._queues.get(queue)
        return self._owner if state is not None and state.consuming else None

    def _take(self, row: Row) -> None:
        queue = self._queues.get(row.queue)
        if self._stopped or row.seq in self._held or queue is None or not queue.consuming:
            return
        self._held.add(row.seq)
        queue.pending.put_nowait(row)

    def _listeners_for(self, routing_key: str) -> list[LocalQueue]:
        return [
            listener
            for bus in _REPLICAS.get(self._store, ())
            if not bus._stopped
            for listener in bus._listeners
            if listener.consuming and listener.binds(routing_key)
        ]

    def _broadcast(self, item: Outgoing) -> None:
        for listener in self._listeners_for(item.routing_key):
            row = Row(0, listener.name, item.routing_key, item.body, item.headers, item.transport_id)
            listener.pending.put_nowait(row)

    # -- topology ----------------------------------------------------------------------------------------

    async def declare(self, subscription: Subscription) -> None:
        if not subscription.broadcast:
            self._declare(subscription)

    async def subscribe(self, subscription: Subscription) -> None:
        prefetch = subscription.prefetch or self._prefetch
        if subscription.broadcast:
            if self._signals is None:
                signals = SignalReader(self._store, poll_interval=self._poll_interval, deliver=self._signal)
                await signals.start()
                self._signals = signals
            listener = LocalQueue(subscription, prefetch, ())
            listener.consumer = asyncio.create_task(
                self._consume(listener), name=f"bus broadcast {subscription.queue}"
            )
            self._listeners.append(listener)
            return
        queue = self._declare(subscription)
        if queue.consuming:
            return
        queue.configure(subscription, prefetch, self._delays(subscription))
        queue.consumer = asyncio.create_task(self._consume(queue), name=f"bus consumer {subscription.queue}")
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll(), name="bus poller")
        self._wake.set()  # what the table holds for this queue, now rather than at the next tick

    async def prune(self, subscriptions: Sequence[Subscription]) -> list[str]:
        wanted: dict[str, set[str]] = {}
        for subscription in subscriptions:
            if not subscription.broadcast:
                self._declare(subscription)
                wanted.setdefault(subscription.queue, set()).update(subscription.bindings())
        removed: list[str] = []
        for name, queue in self._queues.items():
            stale = [pattern for pattern in queue.bindings if pattern not in wanted.get(name, set())]
            if not stale:
                continue
            queue.bindings = tuple(pattern for pattern in queue.bindings if pattern not in stale)
            removed.extend(binding_text(name, pattern) for pattern in stale)
            if name not in wanted:
                log.warning("queue no longer declared: it keeps its messages but receives none", queue=name)
        return removed

    def _delays(self, subscription: Subscription) -> tuple[float, ...]:
        delays = self._retry_delays if subscription.retry_delays is None else subscription.retry_delays
        return tuple(delays)

    def _declare(self, subscription: Subscription) -> LocalQueue:
        prefetch = subscription.prefetch or self._prefetch
        queue = self._queues.get(subscription.queue)
        if queue is None:
            queue = self._queues[subscription.queue] = LocalQueue(
                subscription, prefetch, self._delays(subscription)
            )
        elif queue.consuming:
            queue.bindings = tuple(dict.fromkeys([*queue.bindings, *subscription.bindings()]))
        else:
            queue.configure(subscription, prefetch, self._delays(subscription))
        return queue

    # -- consuming ---------------------------------------------------------------------------------------

    async def _consume(self, queue: LocalQueue) -> None:
        slots = asyncio.Semaphore(queue.prefetch)
        while True:
            await slots.acquire()
            try:
                row = await queue.pending.get()
            except BaseException:
                slots.release()
                raise
            if queue.backlog and queue.pending.empty():
                self._wake.set()
            task = asyncio.create_task(self._handle(queue, row))
            queue.in_flight.add(task)
            task.add_done_callback(queue.in_flight.discard)
            task.add_done_callback(lambda _: slots.release())

    async def _handle(self, queue: LocalQueue, row: Row) -> None:
        scope = HandlerScope(self)
        token = HANDLER.set(None if queue.subscription.broadcast else scope)
        try:
            disposition = await handle_delivery(
                queue.subscription,
                body=row.body,
                headers=row.headers,
                routing_key=row.routing_key,
                delays=queue.delays,
                transport_id=row.transport_id,
            )
        finally:
            scope.open = False
            HANDLER.reset(token)
        if queue.subscription.broadcast:
            count_consumed(self._metrics, queue.name, disposition)
            return
        await self._settle(queue, row, disposition, scope.outgoing)

    async def _settle(
        self, queue: LocalQueue, row: Row, disposition: Disposition, outgoing: Sequence[Outgoing]
    ) -> None:
        settle: Callable[[Connection], None]
        if disposition.verdict is Verdict.RETRY:
            due = queue_table.now_ms() + round(disposition.delay * 1000)
            settle = partial(
                queue_table.reschedule,
                seq=row.seq,
                headers=disposition.headers,
                available_at=due,
                lease_until=due + self._lease_ms,
            )
        elif disposition.verdict is Verdict.PARK:
            error = disposition.headers.get(ERROR_HEADER, "")
            settle = partial(queue_table.park, seq=row.seq, headers=disposition.headers, error=error)
        else:
            settle = partial(queue_table.delete, seq=row.seq)
        try:
            await self._commit(outgoing, settle)
        except PublishError as error:
            # Nothing of it was kept: the message is still queued, so it is handled again.
            log.error("message not settled, handled again", queue=queue.name, error=str(error))
            self._later(queue, row, self._poll_interval)
            return
        count_consumed(self._metrics, queue.name, disposition)
        if disposition.verdict is Verdict.RETRY:
            self._later(queue, replace(row, headers=disposition.headers), disposition.delay)
        else:
            self._held.discard(row.seq)

    def _later(self, queue: LocalQueue, row: Row, delay: float) -> None:
        if self._stopped:
            return

        def fire() -> None:
            self._timers.pop(row.seq, None)
            if not self._stopped and queue.consuming:
                queue.pending.put_nowait(row)
            else:
                self._held.discard(row.seq)

        self._timers[row.seq] = asyncio.get_running_loop().call_later(delay, fire)

    async def _poll(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_interval)
            self._wake.clear()
            try:
                await self._claim()
            except StoreError as error:
                log.warning("queue table not polled", error=str(error))

    async def _claim(self) -> None:
        """Renew the leases of the rows held here, and claim ready rows nobody holds."""
        limits = {
            name: queue.prefetch * 4
            for name, queue in self._queues.items()
            if queue.consuming and queue.pending.qsize() < queue.prefetch
        }
        held = sorted(self._held)
        if not limits and not held:
            return
        lease_until = queue_table.now_ms() + self._lease_ms

        release_orphans = not self._orphans_released

        def run(conn: Connection) -> list[Row]:
            if release_orphans and (released := queue_table.release_owners(conn, holder_is_gone)):
                log.info("took back messages a stopped process was handling", count=released)
            if held:
                queue_table.renew(conn, self._owner, held, lease_until)
            return queue_table.claim(conn, limits, self._owner, held, lease_until)

        rows = await self._store.transact(run)
        self._orphans_released = True
        for row in rows:
            self._take(row)
        for name, limit in limits.items():
            self._queues[name].backlog = sum(row.queue == name for row in rows) >= limit

    def _signal(self, row: Row) -> None:
        """A broadcast another process (another store object) published: a copy for each subscriber here."""
        for listener in self._listeners:
            if listener.consuming and listener.binds(row.routing_key):
                listener.pending.put_nowait(replace(row, queue=listener.name))

    # -- parking -----------------------------------------------------------------------------------------

    async def parked(self, queue: str, *, limit: int = 100) -> list[ParkedMessage]:
        rows = await self._transact(partial(queue_table.parked, queue=queue, limit=limit))
        return [
            ParkedMessage(queue, row.headers.get(ROUTING_KEY_HEADER, row.routing_key), row.body, row.headers)
            for row in rows
        ]

    async def replay(self, queue: str, *, limit: int | None = None) -> int:
        """Parked rows become ready; a running consumer elsewhere (e.g. the server) polls them in."""
        owner = self._holder(queue)
        rows = await self._transact(
            partial(
                queue_table.unpark,
                queue=queue,
                limit=limit,
                rewrite=replay_headers,
                owner=owner,
                lease_until=queue_table.now_ms() + self._lease_ms,
            )
        )
        if owner is not None:
            for row in rows:
                self._take(row)
        if rows:
            log.info("parked messages replayed", queue=queue, count=len(rows))
        return len(rows)

    async def _transact(self, fn: Callable[[Connection], list[Row]]) -> list[Row]:
        try:
            return await self._store.transact(fn)
        except StoreError as error:
            raise BusUnavailableError(f"the queue table cannot be read: {error}") from error
