"""The distributed store: MongoDB (or a MongoDB-compatible server) through PyMongo's native async client.

Every filter and update is validated against the port's subset first (`shared.store.query`), so a call
the SQLite adapter refuses is refused here too, before it reaches the server. Writes ask for majority
acknowledgement with journaling.

FerretDB applies updates, `findAndModify` and deletes as "read, then write" without isolation, so
concurrent read-modify-write calls can overwrite each other there. When the server is FerretDB (or when
`serialize_writes=True`), this adapter runs its writes one at a time per collection, which restores the
port's one-document atomicity between the callers of one `MongoStore`; other processes are not covered.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from pymongo import AsyncMongoClient, ReturnDocument
from pymongo import errors as mongo_errors
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.write_concern import WriteConcern

from shared.store.port import (
    Document,
    DuplicateKeyError,
    Filter,
    IndexSpec,
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
    parse_filter,
    prepare_upsert,
    validate_sort,
    validate_update,
    validate_window,
)

# server error codes that mean "this update does not fit the document", e.g. $inc on a string
_BAD_INPUT_CODES = frozenset({2, 9, 14, 28, 40, 52, 55, 56, 57, 66})


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
        if exc.code in _BAD_INPUT_CODES:
            raise QueryError(str(exc)) from exc
        if "UNIQUE constraint failed" in str(exc):  # FerretDB reports unique violations on update this way
            raise DuplicateKeyError(str(exc)) from exc
        raise StoreError(f"{type(exc).__name__}: {exc}") from exc
    except mongo_errors.PyMongoError as exc:
        raise StoreError(f"{type(exc).__name__}: {exc}") from exc


def _sort(sort: SortSpec | None) -> list[tuple[str, int]] | None:
    return validate_sort(sort) or None


class MongoCollection:
    def __init__(self, store: MongoStore, collection: AsyncCollection[Document]) -> None:
        self.name = collection.name
        self._store = store
        self._coll = collection
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[None]:
        if await self._store._serialized():
            async with self._lock:
                with _translate():
                    yield
        else:
            with _translate():
                yield

    async def insert_one(self, doc: Document) -> str:
        checked = check_document(doc)
        async with self._writing():
            await self._coll.insert_one(checked)
        return str(checked["_id"])

    async def find_one(self, filter: Filter, *, sort: SortSpec | None = None) -> Document | None:
        parse_filter(filter)
        with _translate():
            return await self._coll.find_one(filter, sort=_sort(sort))

    async def find(
        self, filter: Filter, *, sort: SortSpec | None = None, skip: int = 0, limit: int = 0
    ) -> list[Document]:
        parse_filter(filter)
        validate_window(skip, limit)
        with _translate():
            cursor = self._coll.find(filter, sort=_sort(sort), skip=skip, limit=limit)
            return await cursor.to_list()

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
        async with self._writing():
            result = await self._coll.update_one(filter, update, upsert=upsert)
        return result.matched_count

    async def update_many(self, filter: Filter, update: Update) -> int:
        update = self._checked_update(filter, update, upsert=False)
        async with self._writing():
            result = await self._coll.update_many(filter, update)
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
        async with self._writing():
            return await self._coll.find_one_and_update(
                filter, update, sort=order, upsert=upsert, return_document=returned
            )

    async def find_one_and_delete(self, filter: Filter, *, sort: SortSpec | None = None) -> Document | None:
        parse_filter(filter)
        order = _sort(sort)
        async with self._writing():
            return await self._coll.find_one_and_delete(filter, sort=order)

    async def delete_one(self, filter: Filter) -> int:
        parse_filter(filter)
        async with self._writing():
            result = await self._coll.delete_one(filter)
        return result.deleted_count

    async def delete_many(self, filter: Filter) -> int:
        parse_filter(filter)
        async with self._writing():
            result = await self._coll.delete_many(filter)
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
