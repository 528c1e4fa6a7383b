"""The store port: a small document store that both adapters implement identically.

The query and update language is a strict subset of MongoDB's, chosen so that the same calls run on real
MongoDB, on the MongoDB-compatible server the tests use (no transactions, no TTL indexes, no `$lookup`)
and on the embedded SQLite adapter:

* documents are JSON-like dicts; `_id` is a string (generated when missing); keys are non-empty, never
  contain `.` or a NUL character and never start with `$`; times are integers (epoch milliseconds) so
  that they compare the same everywhere;
* filters: `{field: value}` equality (dotted paths reach into sub-documents), and per field the operators
  `$eq $ne $in $nin $lt $lte $gt $gte $exists $regex` (`$options: "i"` allowed); `$and` / `$or` take a list
  of filters. Equality with `None` matches a missing field too, as in MongoDB. Filter values are scalars
  (no sub-document equality); `$lt`-style comparisons take a string or a number;
* `$regex` patterns use RE2 syntax in both adapters (no backreferences, no lookaround; at most
  `MAX_PATTERN_LENGTH` characters): SQLite matches with RE2, so no pattern can make a match run for
  long; MongoDB receives the same pattern and evaluates it on the server;
* array elements: `{field: {"$elemMatch": {"$eq": x}}}` or `{"$elemMatch": {"$in": [x, y]}}` matches
  documents whose `field` is an array holding an element equal to `x` (or to any of the listed values),
  e.g. the subscribers whose `topics` contain a topic. `x` is a string, a number or a boolean; the inner
  filter has exactly one operator; a field that is not an array never matches. Otherwise arrays are
  matched whole: equality with an element, `$all`, `$size` and paths through an array are not part of
  the subset;
* projection: `find`/`find_one` take `projection=[names]`; only `_id` and those top-level fields come back
  (a missing field stays absent);
* updates: `$set $unset $inc $push $setOnInsert`; an upsert inserts the filter's top-level equality fields
  plus the update (an upsert's filter may not use `$and`, `$or` or `$in`: servers seed from them
  differently);
* sort: a list of `(field, 1 | -1)`; a sorted field holds one type of value (or is null/missing);
* large result sets are read with `shared.store.scan`, in `_id` order, a page at a time, with neither
  `skip` nor a server cursor;
* bulk insert: `insert_many` validates every document before writing any, then inserts what is not there
  yet (by `_id` or a unique index) and returns the `_id`s it inserted; running it again after a crash
  writes only what is missing;
* unique indexes: every document has the indexed fields, as strings or numbers (MongoDB counts a missing
  field as null, the test server and SQLite do not; SQLite indexes `true` as `1`);
* atomicity: one document per call (`find_one_and_update` is the compare-and-set primitive). The test
  server applies updates without isolation: there it only holds between callers of one `MongoStore`
  that serialises its writes (`serialize_writes`); across processes, settle races by inserting a
  document with a unique `_id`.

Anything outside the subset raises `QueryError` in both adapters, so the adapters cannot drift apart
silently; `tests/contract/test_store_contract.py` runs the same suite against both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

Document = dict[str, Any]
Filter = Mapping[str, Any]
Update = Mapping[str, Mapping[str, Any]]
SortSpec = Sequence[tuple[str, int]]
Projection = Sequence[str]


class StoreError(Exception):
    """Base of every store failure."""


class StoreUnavailableError(StoreError):
    """The store cannot be reached or refused to work (network, disk): retry later."""


class DuplicateKeyError(StoreError):
    """An insert or upsert hit `_id` or a unique index."""


class QueryError(StoreError, ValueError):
    """A filter, update or document outside the supported subset."""


@dataclass(frozen=True)
class IndexSpec:
    collection: str
    fields: tuple[tuple[str, int], ...]
    unique: bool = False

    @property
    def name(self) -> str:
        return "_".join(f"{field.replace('.', '_')}_{direction}" for field, direction in self.fields)


class Collection(Protocol):
    name: str

    async def insert_one(self, doc: Document) -> str:
        """Insert and return the `_id`; raises `DuplicateKeyError`."""
        ...

    async def insert_many(self, docs: Sequence[Document]) -> list[str]:
        """Insert what is not stored yet; return the `_id`s inserted, in input order.

        Every document is validated first (one bad document: `QueryError`, nothing written). A document
        whose `_id` or unique key exists already is skipped, so a re-run writes only what is missing.
        """
        ...

    async def find_one(
        self, filter: Filter, *, sort: SortSpec | None = None, projection: Projection | None = None
    ) -> Document | None: ...

    async def find(
        self,
        filter: Filter,
        *,
        sort: SortSpec | None = None,
        skip: int = 0,
        limit: int = 0,
        projection: Projection | None = None,
    ) -> list[Document]:
        """`limit=0` means no limit; `projection` lists the top-level fields to return besides `_id`."""
        ...

    def stream(
        self, filter: Filter, *, batch_size: int = 500, projection: Projection | None = None
    ) -> AsyncIterator[list[Document]]:
        """The documents matching `filter`, each once, in pages of at most `batch_size`, in no promised
        order, reading the collection once (on MongoDB one cursor, held open while the pages are taken).

        For reading a large set at once, when `scan`'s one query per page costs too much (a server that
        cannot use an index for a sorted range reads the whole collection for each page). A consumer that
        may stop for long between pages uses `scan`, which keeps nothing open.
        """
        ...

    async def count(self, filter: Filter) -> int: ...

    async def update_one(self, filter: Filter, update: Update, *, upsert: bool = False) -> int:
        """Return how many documents matched (0 or 1); an upsert that inserted returns 0."""
        ...

    async def update_many(self, filter: Filter, update: Update) -> int:
        """Return how many documents matched."""
        ...

    async def find_one_and_update(
        self,
        filter: Filter,
        update: Update,
        *,
        upsert: bool = False,
        return_new: bool = True,
        sort: SortSpec | None = None,
    ) -> Document | None: ...

    async def find_one_and_delete(
        self, filter: Filter, *, sort: SortSpec | None = None
    ) -> Document | None: ...

    async def delete_one(self, filter: Filter) -> int: ...

    async def delete_many(self, filter: Filter) -> int: ...


class Store(Protocol):
    def collection(self, name: str) -> Collection: ...

    async def ensure_indexes(self, specs: Iterable[IndexSpec]) -> None:
        """Create what is missing; idempotent (used by `igot migrate` and at start)."""
        ...

    async def ping(self) -> None:
        """Raise `StoreUnavailableError` when the store cannot serve requests."""
        ...

    async def close(self) -> None: ...


def check_key(key: object, *, where: str = "document") -> None:
    """Refuse a key MongoDB-compatible servers reject, before anything is written.

    BSON cannot hold a NUL character in a key: refusing it here makes SQLite refuse it too.
    """
    if not isinstance(key, str) or not key or key.startswith("$") or "." in key or "\x00" in key:
        raise QueryError(f"{where}: key {key!r} is not allowed")
