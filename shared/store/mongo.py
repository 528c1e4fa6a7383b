"""The distributed store: MongoDB (or a MongoDB-compatible server) through PyMongo's native async client.

Every filter and update is validated against the port's subset first (`shared.store.query`), so a call
the SQLite adapter refuses is refused here too, before it reaches the server. Writes ask for majority
acknowledgement with journaling.

FerretDB applies updates, `findAndModify` and deletes as "read, then write" without isolation, so
concurrent read-modify-write calls can overwrite each other there. When the server is FerretDB (or when
`serialize_writes=True`), this adapter runs its writes one at a time per collection, which restores the
port's one-document atomicity between the callers of one `MongoStore`; other processes are not covered.
FerretDB on SQLite also answers "database is locked" when two processes write at once: such a write did
not happen, so it is tried again after a short, growing pause.

Concurrent `insert_one` calls on one collection are sent together as one unordered `insert_many` (the
next batch forms while one is in flight, so a lone insert waits for nothing); each caller still hears of
its own document only, a duplicate `_id` included. Batching is what makes the server fast: on the test
server one `insert_many` of 100 documents costs about what 6 single inserts do. A document is encoded to
BSON before it joins a batch, so one the driver would refuse fails its own caller with `QueryError`
instead of the batch, and whatever goes wrong while a batch is sent, every caller of it hears back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import bson
from pymongo import AsyncMongoClient, ReturnDocument
from pymongo import errors as mongo_errors
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.write_concern import WriteConcern

from shared.logs import get_logger
from shared.store.port import (
    Document,
    DuplicateKeyError,
    Filter,
    IndexSpec,
    Projection,
    QueryError,
    SortSpec,
    StoreError,
    StoreUnavailableError,
    Update,
)
from shared.store.query import (
    check_collection_name,
    check_document,
    check_index,
    check_projection,
    parse_filter,
    prepare_upsert,
    validate_batch_size,
    validate_sort,
    validate_update,
    validate_window,
)

# server error codes that mean "this update does not fit the document", e.g. $inc on a string
_BAD_INPUT_CODES = frozenset({2, 9, 14, 28, 40, 52, 55, 56, 57, 66})
_DUPLICATE_KEY = 11000
_BUSY_MARKERS = ("database is locked", "SQLITE_BUSY")
_BUSY_RETRIES = 6
_BUSY_FIRST_PAUSE = 0.01
_INSERT_BATCH = 500
T = TypeVar("T")
log = get_logger("igot.store.mongo")


def _is_busy(error: BaseException) -> bool:
    return isinstance(error, mongo_errors.OperationFailure) and any(m in str(error) for m in _BUSY_MARKERS)


@contextmanager
def _translate() -> Iterator[None]:
    """Map PyMongo errors to the port's."""
    try:
        yield
    except mongo_errors.DuplicateKeyError as exc:
        raise DuplicateKeyError(str(exc)) from exc
    except (
        mongo_errors.ConnectionFailure,
        mongo_errors.ExecutionTimeout,
        mongo_errors.WriteConcernError,
    ) as exc:
        raise StoreUnavailableError(f"{type(exc).__name__}: {exc}") from exc
    except mongo_errors.OperationFailure as exc:
        if _is_busy(exc):
            raise StoreUnavailableError(f"the store stayed busy: {exc}") from exc
        if exc.code in _BAD_INPUT_CODES:
            raise QueryError(str(exc)) from exc
        if "UNIQUE constraint failed" in str(exc):  # FerretDB reports unique violations on update this way
            raise DuplicateKeyError(str(exc)) from exc
        raise StoreError(f"{type(exc).__name__}: {exc}") from exc
    except mongo_errors.PyMongoError as exc:
        raise StoreError(f"{type(exc).__name__}: {exc}") from exc


def _sort(sort: SortSpec | None) -> list[tuple[str, int]] | None:
    return validate_sort(sort) or None


def _projection(projection: Projection | None) -> dict[str, int] | None:
    names = check_projection(projection)
    return None if names is None else {"_id": 1, **dict.fromkeys(names, 1)}


def _checked_bson(doc: Document) -> Document:
    """`check_document`, then what BSON itself refuses, before the document shares a batch with others."""
    checked = check_document(doc)
    try:
        bson.encode(checked)
    except Exception as exc:
        raise QueryError(f"document cannot be stored: {exc}") from None
    return checked


def _settle_inserts(
    batch: list[tuple[Document, asyncio.Future[None]]], failures: dict[int, StoreError]
) -> None:
    """Answer each caller of a batch: its own failure, the whole batch's (-1), or success."""
    for index, (_, done) in enumerate(batch):
        if done.done():
            continue
        failure = failures.get(index, failures.get(-1))
        if failure is None:
            done.set_result(None)
        else:
            done.set_exception(failure)


class MongoCollection:
    def __init__(self, store: MongoStore, collection: AsyncCollection[Document]) -> None:
        self.name = collection.name
        self._store = store
        self._coll = collection
        self._lock = asyncio.Lock()
        self._pending_inserts: list[tuple[Document, asyncio.Future[None]]] = []
        self._inserting: asyncio.Task[None] | None = None

    async def _write(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run one write: one at a time where the server needs it, again while the server is busy."""
        serialized = await self._store._serialized()
        pause = _BUSY_FIRST_PAUSE
        for attempt in range(_BUSY_RETRIES):
            try:
                with _translate():
                    if serialized:
                        async with self._lock:
                            return await operation()
                    return await operation()
            except StoreUnavailableError as error:
                if error.__cause__ is None or not _is_busy(error.__cause__) or attempt == _BUSY_RETRIES - 1:
                    raise
            await asyncio.sleep(pause)
            pause *= 2
        raise AssertionError("unreachable")

    async def insert_one(self, doc: Document) -> str:
        checked = _checked_bson(doc)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending_inserts.append((checked, done))
        if self._inserting is None or self._inserting.done():
            self._inserting = asyncio.create_task(self._insert_pending())
        await done
        return str(checked["_id"])

    async def _insert_pending(self) -> None:
        """Send the waiting inserts in batches; every caller of a batch hears back, whatever happens."""
        while self._pending_inserts:
            batch, self._pending_inserts = (
                self._pending_inserts[:_INSERT_BATCH],
                self._pending_inserts[_INSERT_BATCH:],
            )
            try:
                failures = await self._insert_batch([doc for doc, _ in batch])
            except BaseException as exc:
                if isinstance(exc, Exception):
                    # a surprise must not leave the batch's callers waiting forever; later batches go on
                    log.exception("store.insert_batch_failed", collection=self.name, documents=len(batch))
                    failures = {-1: StoreError(f"insert failed: {type(exc).__name__}: {exc}")}
                else:  # cancelled or stopping: nobody will send the rest
                    waiting, self._pending_inserts = batch + self._pending_inserts, []
                    _settle_inserts(waiting, {-1: StoreUnavailableError("the insert was abandoned")})
                    raise
            _settle_inserts(batch, failures)

    async def _insert_batch(self, docs: list[Document]) -> dict[int, StoreError]:
        """Unordered: every document is tried; the refused ones are returned by index (-1: all of them)."""
        refused: dict[int, StoreError] = {}

        async def insert() -> None:
            try:
                await self._coll.insert_many(docs, ordered=False)
            except mongo_errors.BulkWriteError as exc:
                for error in exc.details.get("writeErrors", []):
                    message = str(error.get("errmsg", "write refused"))
                    duplicate = error.get("code") == _DUPLICATE_KEY
                    refused[int(error["index"])] = (
                        DuplicateKeyError(message) if duplicate else StoreError(message)
                    )
                if exc.details.get("writeConcernErrors"):
                    raise StoreUnavailableError("write concern not satisfied") from exc

        try:
            # A busy answer means the batch was not written (one transaction on the server), so it is
            # safe to send again.
            await self._write(insert)
        except StoreError as error:
            return {-1: error}
        return refused

    async def insert_many(self, docs: Sequence[Document]) -> list[str]:
        checked = [_checked_bson(doc) for doc in docs]
        skipped: set[int] = set()
        for start in range(0, len(checked), _INSERT_BATCH):
            chunk = checked[start : start + _INSERT_BATCH]
            skipped.update(start + index for index in await self._insert_chunk(chunk))
        return [str(doc["_id"]) for index, doc in enumerate(checked) if index not in skipped]

    async def _insert_chunk(self, docs: list[Document]) -> list[int]:
        """Insert unordered; return the indexes of the documents skipped as already stored."""
        skipped: list[int] = []

        async def insert() -> None:
            skipped.clear()  # a busy server wrote nothing: the next try starts afresh
            try:
                await self._coll.insert_many(docs, ordered=False)
            except mongo_errors.BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                if exc.details.get("writeConcernErrors"):
                    raise StoreUnavailableError("write concern not satisfied") from exc
                if other := [error for error in errors if error.get("code") != _DUPLICATE_KEY]:
                    raise StoreError(str(other[0].get("errmsg", "write refused"))) from exc
                skipped.extend(int(error["index"]) for error in errors)

        await self._write(insert)
        return skipped

    async def find_one(
        self, filter: Filter, *, sort: SortSpec | None = None, projection: Projection | None = None
    ) -> Document | None:
        parse_filter(filter)
        fields = _projection(projection)
        with _translate():
            return await self._coll.find_one(filter, fields, sort=_sort(sort))

    async def find(
        self,
        filter: Filter,
        *,
        sort: SortSpec | None = None,
        skip: int = 0,
        limit: int = 0,
        projection: Projection | None = None,
    ) -> list[Document]:
        parse_filter(filter)
        validate_window(skip, limit)
        fields = _projection(projection)
        with _translate():
            cursor = self._coll.find(filter, fields, sort=_sort(sort), skip=skip, limit=limit)
            return await cursor.to_list()

    async def stream(
        self, filter: Filter, *, batch_size: int = 500, projection: Projection | None = None
    ) -> AsyncIterator[list[Document]]:
        parse_filter(filter)
        validate_batch_size(batch_size)
        fields = _projection(projection)
        # No sort: a server that cannot sort by an index would gather the whole result before answering.
        cursor = self._coll.find(filter, fields, batch_size=batch_size)
        try:
            while True:
                with _translate():
                    page = await cursor.to_list(batch_size)
                if page:
                    yield page
                if len(page) < batch_size:
                    return
        finally:
            await cursor.close()

    async def count(self, filter: Filter) -> int:
        parse_filter(filter)
        with _translate():
            return await self._coll.count_documents(filter)

    def _checked_update(self, filter: Filter, update: Update, *, upsert: bool) -> Update:
        """Validate both; for an upsert, make sure the inserted document gets a string `_id`."""
        validate_update(update)
        tree = parse_filter(filter)
        return prepare_upsert(tree, update)[1] if upsert else update

    async def update_one(self, filter: Filter, update: Update, *, upsert: bool = False) -> int:
        update = self._checked_update(filter, update, upsert=upsert)
        result = await self._write(lambda: self._coll.update_one(filter, update, upsert=upsert))
        return result.matched_count

    async def update_many(self, filter: Filter, update: Update) -> int:
        update = self._checked_update(filter, update, upsert=False)
        result = await self._write(lambda: self._coll.update_many(filter, update))
        return result.matched_count

    async def find_one_and_update(
        self,
        filter: Filter,
        update: Update,
        *,
        upsert: bool = False,
        return_new: bool = True,
        sort: SortSpec | None = None,
    ) -> Document | None:
        update = self._checked_update(filter, update, upsert=upsert)
        order = _sort(sort)
        returned = ReturnDocument.AFTER if return_new else ReturnDocument.BEFORE
        return await self._write(
            lambda: self._coll.find_one_and_update(
                filter, update, sort=order, upsert=upsert, return_document=returned
            )
        )

    async def find_one_and_delete(self, filter: Filter, *, sort: SortSpec | None = None) -> Document | None:
        parse_filter(filter)
        order = _sort(sort)
        return await self._write(lambda: self._coll.find_one_and_delete(filter, sort=order))

    async def delete_one(self, filter: Filter) -> int:
        parse_filter(filter)
        result = await self._write(lambda: self._coll.delete_one(filter))
        return result.deleted_count

    async def delete_many(self, filter: Filter) -> int:
        parse_filter(filter)
        result = await self._write(lambda: self._coll.delete_many(filter))
        return result.deleted_count


class MongoStore:
    def __init__(
        self,
        url: str,
        database: str,
        *,
        server_selection_timeout_ms: int = 3000,
        serialize_writes: bool | None = None,
    ) -> None:
        """`serialize_writes=None` decides from the server: on for FerretDB, off for MongoDB."""
        self._client: AsyncMongoClient[Document] = AsyncMongoClient(
            url,
            serverSelectionTimeoutMS=server_selection_timeout_ms,
            connectTimeoutMS=max(server_selection_timeout_ms, 1000),
        )
        self._db = self._client.get_database(database, write_concern=WriteConcern(w="majority", j=True))
        self._serialize = serialize_writes
        self._collections: dict[str, MongoCollection] = {}

    def collection(self, name: str) -> MongoCollection:
        if name not in self._collections:
            check_collection_name(name)
            self._collections[name] = MongoCollection(self, self._db[name])
        return self._collections[name]

    @property
    def serializes_writes(self) -> bool | None:
        """Whether writes run one at a time per collection; None until the server has been asked."""
        return self._serialize

    async def _serialized(self) -> bool:
        if self._serialize is None:
            with _translate():
                info: dict[str, Any] = await self._client.admin.command("buildInfo")
            self._serialize = "ferretdbVersion" in info
        return self._serialize

    async def ensure_indexes(self, specs: Iterable[IndexSpec]) -> None:
        for spec in [check_index(spec) for spec in specs]:
            options: dict[str, Any] = {"name": spec.name}
            if spec.unique:
                options["unique"] = True
            with _translate():
                await self._db[spec.collection].create_index(list(spec.fields), **options)

    async def ping(self) -> None:
        with _translate():
            await self._client.admin.command("ping")

    async def close(self) -> None:
        await self._client.close()
