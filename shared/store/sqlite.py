"""The standalone store: one SQLite file, JSON documents, writes on one thread and reads on another.

Each collection is a table `(id TEXT PRIMARY KEY, doc TEXT NOT NULL)`; `doc` holds the whole document as
JSON, `_id` included. Filters become SQL over `json_extract(doc, '$.path')`, the same expressions the
indexes are built on, so equality, range and sort use them; `$elemMatch` looks through the array with
`json_each`, and `$regex` matches with RE2. Calls become functions of a connection: writes (and
`find_one_and_update`, `find_one_and_delete`, `transact`) run on `sqlite_worker.SqliteWorker`'s thread,
which groups the calls that wait into one transaction (one disk sync for many writes), each call in its
own savepoint; `find`, `find_one` and `count` run on `sqlite_reader.SqliteReader`'s connection and see
every write acknowledged before they were called, without waiting for the writes still in flight.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from shared.store.port import (
    Document,
    Filter,
    IndexSpec,
    Projection,
    QueryError,
    SortSpec,
    StoreUnavailableError,
    Update,
)
from shared.store.query import (
    Cond,
    Logical,
    Node,
    Pattern,
    apply_update,
    check_collection_name,
    check_document,
    check_index,
    check_projection,
    parse_filter,
    prepare_upsert,
    project,
    upsert_document,
    validate_sort,
    validate_update,
    validate_window,
)
from shared.store.scan import scan
from shared.store.sqlite_reader import SqliteReader
from shared.store.sqlite_worker import SqliteWorker

T = TypeVar("T")
_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")
_COMPARE = {"$lt": "<", "$lte": "<=", "$gt": ">", "$gte": ">="}
_NUMBER_TYPES = "('integer', 'real')"
_INSERT_CHUNK = 500  # documents per write-thread call of insert_many: bounds the work of one savepoint


def _exprs(path: str) -> tuple[str, str]:
    """The SQL value and JSON type of a (validated) field path; `_id` is the `id` column."""
    if path == "_id":
        return "id", "'text'"
    literal = f"'$.{path}'"
    return f"json_extract(doc, {literal})", f"json_type(doc, {literal})"


def _type_test(json_type: str, value: object) -> str:
    # json_extract gives 1/0 for true/false: the JSON type tells booleans, numbers and strings apart
    if isinstance(value, bool):
        return f"{json_type} = '{'true' if value else 'false'}'"
    if isinstance(value, str):
        return f"{json_type} = 'text'"
    return f"{json_type} IN {_NUMBER_TYPES}"


def _eq(expr: str, json_type: str, value: object, params: list[Any]) -> str:
    if value is None:  # null or missing
        return f"{expr} IS NULL"
    params.append(value)
    return f"({expr} = ? AND {_type_test(json_type, value)})"


def _in(expr: str, json_type: str, values: tuple[Any, ...], params: list[Any]) -> str:
    strings = [v for v in values if isinstance(v, str)]
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    parts: list[str] = []
    for group in (strings, numbers):
        if group:
            params.extend(group)
            marks = ", ".join("?" * len(group))
            parts.append(f"({expr} IN ({marks}) AND {_type_test(json_type, group[0])})")
    for flag in sorted({v for v in values if isinstance(v, bool)}):
        parts.append(_eq(expr, json_type, flag, params))
    if any(v is None for v in values):
        parts.append(f"{expr} IS NULL")
    return "(" + " OR ".join(parts) + ")" if parts else "0"


def _where(node: Node, params: list[Any]) -> str:
    """SQL for a parsed filter; negations use IFNULL so that a missing field counts as "not equal"."""
    if isinstance(node, Logical):
        if not node.items:
            return "1"
        joiner = " AND " if node.op == "$and" else " OR "
        return "(" + joiner.join(_where(item, params) for item in node.items) + ")"
    return _cond(node, params)


def _cond(cond: Cond, params: list[Any]) -> str:
    expr, json_type = _exprs(cond.path)
    op, value = cond.op, cond.value
    if op == "$eq":
        return _eq(expr, json_type, value, params)
    if op == "$ne":
        return f"NOT IFNULL({_eq(expr, json_type, value, params)}, 0)"
    if op == "$in":
        return _in(expr, json_type, value, params)
    if op == "$nin":
        return f"NOT IFNULL({_in(expr, json_type, value, params)}, 0)"
    if op in _COMPARE:
        params.append(value)
        return f"({expr} {_COMPARE[op]} ? AND {_type_test(json_type, value)})"
    if op == "$exists":
        return f"{json_type} IS {'NOT ' if value else ''}NULL"
    if op == "$regex":
        params.extend((value.source, value.ignore_case))
        return f"({json_type} = 'text' AND igot_regexp(?, ?, {expr}))"
    if op == "$elemMatch":
        # json_each of a scalar yields the scalar itself: only an array may match
        element = _in("e.value", "e.type", value, params)
        elements = f"json_each(doc, '$.{cond.path}') AS e"
        return f"({json_type} = 'array' AND EXISTS (SELECT 1 FROM {elements} WHERE {element}))"
    raise QueryError(f"operator {op!r} is not supported")  # pragma: no cover - parse_filter refuses it


def _order(sort: SortSpec | None) -> str:
    keys = validate_sort(sort)
    if not keys:
        return ""
    return " ORDER BY " + ", ".join(f"{_exprs(path)[0]} {'ASC' if d == 1 else 'DESC'}" for path, d in keys)


def _regexp(source: str, ignore_case: int, value: object) -> bool:
    return isinstance(value, str) and Pattern(source, bool(ignore_case)).search(value)


def _execute(sql: str, conn: sqlite3.Connection) -> None:
    conn.execute(sql)


def _dump(doc: Document) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _load(text: str) -> Document:
    doc: Document = json.loads(text)
    return doc


def _prepare(conn: sqlite3.Connection) -> None:
    conn.create_function("igot_regexp", 3, _regexp, deterministic=True)


class SqliteCollection:
    def __init__(self, store: SqliteStore, name: str) -> None:
        self.name = name
        self._store = store
        self._table = f'"{name}"'

    async def _query(
        self, filter: Filter | Logical, fn: Callable[[sqlite3.Connection, str, list[Any]], T]
    ) -> T:
        params: list[Any] = []
        where = _where(filter if isinstance(filter, Logical) else parse_filter(filter), params)
        return await self._store._run(self.name, lambda conn: fn(conn, where, params))

    async def _read(
        self, filter: Filter, fn: Callable[[sqlite3.Connection, str, list[Any]], T], empty: T
    ) -> T:
        params: list[Any] = []
        where = _where(parse_filter(filter), params)
        return await self._store._read(lambda conn: fn(conn, where, params), empty)

    def _select(self, where: str, order: str = "", window: str = "") -> str:
        return f"SELECT id, doc FROM {self._table} WHERE {where}{order}{window}"

    async def insert_one(self, doc: Document) -> str:
        checked = check_document(doc)

        def run(conn: sqlite3.Connection) -> str:
            conn.execute(
                f"INSERT INTO {self._table} (id, doc) VALUES (?, ?)", (checked["_id"], _dump(checked))
            )
            return str(checked["_id"])

        return await self._store._run(self.name, run)

    async def insert_many(self, docs: Sequence[Document]) -> list[str]:
        checked = [check_document(doc) for doc in docs]
        sql = f"INSERT OR IGNORE INTO {self._table} (id, doc) VALUES (?, ?)"

        def run(chunk: list[Document], conn: sqlite3.Connection) -> list[str]:
            # OR IGNORE skips a document whose _id or unique index key is taken, and nothing else fails
            return [doc["_id"] for doc in chunk if conn.execute(sql, (doc["_id"], _dump(doc))).rowcount]

        chunks = [checked[start : start + _INSERT_CHUNK] for start in range(0, len(checked), _INSERT_CHUNK)]
        inserted = await asyncio.gather(*(self._store._run(self.name, partial(run, c)) for c in chunks))
        return [doc_id for chunk_ids in inserted for doc_id in chunk_ids]

    async def find_one(
        self, filter: Filter, *, sort: SortSpec | None = None, projection: Projection | None = None
    ) -> Document | None:
        found = await self.find(filter, sort=sort, limit=1, projection=projection)
        return found[0] if found else None

    async def find(
        self,
        filter: Filter,
        *,
        sort: SortSpec | None = None,
        skip: int = 0,
        limit: int = 0,
        projection: Projection | None = None,
    ) -> list[Document]:
        validate_window(skip, limit)
        order = _order(sort)
        names = check_projection(projection)

        def run(conn: sqlite3.Connection, where: str, params: list[Any]) -> list[Document]:
            sql = self._select(where, order, " LIMIT ? OFFSET ?")
            rows = conn.execute(sql, (*params, limit or -1, skip)).fetchall()
            return [project(_load(text), names) for _, text in rows]

        return await self._read(filter, run, [])

    def stream(
        self, filter: Filter, *, batch_size: int = 500, projection: Projection | None = None
    ) -> AsyncIterator[list[Document]]:
        # SQLite reads a range of the primary key cheaply: `scan`'s pages are as fast as one pass here.
        return scan(self, filter, batch_size=batch_size, projection=projection)

    async def count(self, filter: Filter) -> int:
        def run(conn: sqlite3.Connection, where: str, params: list[Any]) -> int:
            sql = f"SELECT COUNT(*) FROM {self._table} WHERE {where}"
            return int(conn.execute(sql, params).fetchall()[0][0])  # fetchall: ends the read transaction

        return await self._read(filter, run, 0)

    async def update_one(self, filter: Filter, update: Update, *, upsert: bool = False) -> int:
        old, _ = await self._modify(filter, update, upsert=upsert, sort=None)
        return 0 if old is None else 1

    async def update_many(self, filter: Filter, update: Update) -> int:
        validate_update(update)

        def run(conn: sqlite3.Connection, where: str, params: list[Any]) -> int:
            rows = conn.execute(self._select(where), params).fetchall()
            changes = []
            for doc_id, text in rows:
                new = _dump(apply_update(_load(text), update))
                if new != text:  # compare JSON: in Python 1 == 1.0 == True
                    changes.append((new, doc_id))
            conn.executemany(f"UPDATE {self._table} SET doc = ? WHERE id = ?", changes)
            return len(rows)

        return await self._query(filter, run)

    async def find_one_and_update(
        self,
        filter: Filter,
        update: Update,
        *,
        upsert: bool = False,
        return_new: bool = True,
        sort: SortSpec | None = None,
    ) -> Document | None:
        old, new = await self._modify(filter, update, upsert=upsert, sort=sort)
        return new if return_new else old

    async def _modify(
        self, filter: Filter, update: Update, *, upsert: bool, sort: SortSpec | None
    ) -> tuple[Document | None, Document | None]:
        """Update the first match; returns (before, after), before being None when nothing matched."""
        validate_update(update)
        tree = parse_filter(filter)
        seed, update = prepare_upsert(tree, update) if upsert else (None, update)
        order = _order(sort)

        def run(
            conn: sqlite3.Connection, where: str, params: list[Any]
        ) -> tuple[Document | None, Document | None]:
            row = conn.execute(self._select(where, order, " LIMIT 1"), params).fetchone()
            if row is not None:
                old = _load(row[1])
                new = apply_update(old, update)
                if (text := _dump(new)) != row[1]:  # compare JSON: in Python 1 == 1.0 == True
                    conn.execute(f"UPDATE {self._table} SET doc = ? WHERE id = ?", (text, row[0]))
                return old, new
            if seed is None:
                return None, None
            doc = check_document(upsert_document(seed, update))
            conn.execute(f"INSERT INTO {self._table} (id, doc) VALUES (?, ?)", (doc["_id"], _dump(doc)))
            return None, doc

        return await self._query(tree, run)

    async def find_one_and_delete(self, filter: Filter, *, sort: SortSpec | None = None) -> Document | None:
        order = _order(sort)

        def run(conn: sqlite3.Connection, where: str, params: list[Any]) -> Document | None:
            row = conn.execute(self._select(where, order, " LIMIT 1"), params).fetchone()
            if row is None:
                return None
            conn.execute(f"DELETE FROM {self._table} WHERE id = ?", (row[0],))
            return _load(row[1])

        return await self._query(filter, run)

    async def delete_one(self, filter: Filter) -> int:
        def run(conn: sqlite3.Connection, where: str, params: list[Any]) -> int:
            sql = (
                f"DELETE FROM {self._table} WHERE id IN (SELECT id FROM {self._table} WHERE {where} LIMIT 1)"
            )
            return conn.execute(sql, params).rowcount

        return await self._query(filter, run)

    async def delete_many(self, filter: Filter) -> int:
        def run(conn: sqlite3.Connection, where: str, params: list[Any]) -> int:
            return conn.execute(f"DELETE FROM {self._table} WHERE {where}", params).rowcount

        return await self._query(filter, run)


class SqliteStore:
    def __init__(self, path: Path | str, *, synchronous: str = "FULL") -> None:
        if synchronous.upper() not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {', '.join(_SYNCHRONOUS)}")
        self._worker = SqliteWorker(Path(path), synchronous.upper(), _prepare)
        self._reader = SqliteReader(Path(path), _prepare)
        # end the threads of a store dropped unclosed
        weakref.finalize(self, self._worker.stop_soon)
        weakref.finalize(self, self._reader.stop_soon)
        self._collections: dict[str, SqliteCollection] = {}
        self._closed = False

    def collection(self, name: str) -> SqliteCollection:
        if name not in self._collections:
            check_collection_name(name)
            self._collections[name] = SqliteCollection(self, name)
        return self._collections[name]

    async def ensure_indexes(self, specs: Iterable[IndexSpec]) -> None:
        statements: list[tuple[str, str]] = []
        for spec in map(check_index, specs):
            columns = ", ".join(f"{_exprs(path)[0]} {'ASC' if d == 1 else 'DESC'}" for path, d in spec.fields)
            unique = "UNIQUE " if spec.unique else ""
            name = f'"{spec.collection}__{spec.name}"'
            sql = f'CREATE {unique}INDEX IF NOT EXISTS {name} ON "{spec.collection}" ({columns})'
            statements.append((spec.collection, sql))
        for table, sql in statements:
            await self._run(table, partial(_execute, sql))

    async def ping(self) -> None:
        await self._run(None, lambda conn: conn.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        """Finish the calls already made, then stop; later calls raise `StoreUnavailableError`."""
        if self._closed:
            return
        self._closed = True
        await asyncio.gather(self._reader.stop(), self._worker.stop())

    async def transact(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(connection)` in the next group commit, all or nothing (its own savepoint).

        For standalone components that keep tables of their own next to the documents (the in-process
        bus's queue table): their writes share the fsync of every document write waiting with them.
        """
        return await self._run(None, fn)

    async def _run(self, table: str | None, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise StoreUnavailableError("the store is closed")
        return await self._worker.submit(table, fn)

    async def _read(self, fn: Callable[[sqlite3.Connection], T], empty: T) -> T:
        if self._closed:
            raise StoreUnavailableError("the store is closed")
        return await self._reader.submit(fn, empty)
