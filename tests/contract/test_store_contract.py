"""One suite, both store adapters: whatever passes here behaves the same on SQLite and on MongoDB."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from shared.ids import is_hex24
from shared.store.mongo import MongoStore
from shared.store.port import (
    Collection,
    DuplicateKeyError,
    IndexSpec,
    QueryError,
    Store,
    StoreUnavailableError,
)
from shared.store.sqlite import SqliteStore
from shared.store.sqlite_worker import SqliteWorker


@pytest.fixture(
    params=[
        "sqlite",
        # FerretDB makes the adapter serialise its writes per collection; real MongoDB runs them
        # concurrently: both paths run the whole suite on the test server
        pytest.param("mongo-serialized", marks=pytest.mark.integration),
        pytest.param("mongo-concurrent", marks=pytest.mark.integration),
    ]
)
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, mongo_url: str, namespace: str
) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        sqlite = SqliteStore(tmp_path / "data" / "store.sqlite3")
        yield sqlite
        await sqlite.close()
        return
    mongo = MongoStore(mongo_url, namespace, serialize_writes=request.param == "mongo-serialized")
    try:
        yield mongo
    finally:
        await mongo.close()
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
        await client.drop_database(namespace)
        await client.close()


@pytest.fixture
def coll(store: Store) -> Collection:
    return store.collection("things")


async def is_ferretdb(mongo_url: str) -> bool:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
    try:
        return "ferretdbVersion" in await client.admin.command("buildInfo")
    finally:
        await client.close()


async def needs_isolated_updates(store: Store, mongo_url: str) -> None:
    """Skip a test of one caller's read-modify-write atomicity where the server cannot give it.

    FerretDB applies `$inc`, `update_one` and `find_one_and_update` as a read followed by a write without
    isolation, so two concurrent calls on one document can both read the old state and one update is
    lost. `MongoStore` serialises its writes there; with `serialize_writes=False` (what real MongoDB
    gets, where the server applies each update atomically) the test server cannot hold the guarantee.
    """
    if isinstance(store, MongoStore) and store.serializes_writes is False and await is_ferretdb(mongo_url):
        pytest.skip("FerretDB updates are read-then-write: atomic only with serialize_writes=True")


async def ids(coll: Collection, filter: dict[str, Any], **kwargs: Any) -> list[str]:
    return [doc["_id"] for doc in await coll.find(filter, **kwargs)]


async def test_insert_and_read_back_exactly(coll: Collection) -> None:
    doc: dict[str, Any] = {
        "_id": "d1",
        "text": "héllo",
        "n": 2**62,
        "f": 1.5,
        "whole": 2.0,
        "yes": True,
        "no": False,
        "nothing": None,
        "sub": {"a": {"b": [1, "x", {"c": None}]}},
        "empty": {},
        "list": [],
    }
    assert await coll.insert_one(doc) == "d1"
    found = await coll.find_one({"_id": "d1"})
    assert found == doc
    assert found is not None and isinstance(found["whole"], float) and isinstance(found["n"], int)
    generated = {"x": 1}
    new_id = await coll.insert_one(generated)
    assert is_hex24(new_id) and generated == {"x": 1}
    assert await coll.find_one({"x": 1}) == {"_id": new_id, "x": 1}
    assert await coll.find_one({"x": 2}) is None


async def test_duplicate_id(coll: Collection) -> None:
    await coll.insert_one({"_id": "a", "v": 1})
    with pytest.raises(DuplicateKeyError):
        await coll.insert_one({"_id": "a", "v": 2})
    assert await coll.find({}) == [{"_id": "a", "v": 1}]


@pytest.mark.parametrize(
    "doc",
    [
        {"a.b": 1},
        {"$a": 1},
        {"sub": {"x.y": 1}},
        {"sub": {"$set": 1}},
        {"list": [{"ok": 1}, {"bad.key": 2}]},
        {"": 1},
        {"_id": 5},
        {"_id": None},
        {"when": object()},
        {"big": 2**64},
        {"nan": float("nan")},
        {"a\x00b": 1},
        {"sub": {"x\x00": 1}},
        {"list": [{"\x00": 1}]},
    ],
)
async def test_insert_refuses_bad_documents(coll: Collection, doc: dict[str, Any]) -> None:
    with pytest.raises(QueryError):
        await coll.insert_one(doc)
    assert await coll.count({}) == 0


@pytest.mark.parametrize(
    "update",
    [
        {"$set": {"sub": {"x.y": 1}}},
        {"$set": {"sub": {"$x": 1}}},
        {"$set": {"$x": 1}},
        {"$set": {"a..b": 1}},
        {"$push": {"list": {"$each": [1, 2]}}},
        {"$set": {"_id": "other"}},
        {"$unset": {"_id": ""}},
        {"$set": {"a": 1}, "$inc": {"a": 1}},
        {"$set": {"a": 1}, "$unset": {"a.b": ""}},
        {"$set": {"a": 1}, "$setOnInsert": {"a": 2}},
        {"$inc": {"n": "1"}},
        {"$inc": {"n": True}},
        {"$rename": {"a": "b"}},
        {"$pull": {"a": 1}},
        {"$addToSet": {"a": 1}},
        {"$currentDate": {"a": True}},
        {"$set": {}},
        {},
        {"a": 1},
    ],
)
async def test_update_refuses_outside_subset(coll: Collection, update: dict[str, Any]) -> None:
    await coll.insert_one({"_id": "a", "n": 1})
    with pytest.raises(QueryError):
        await coll.update_one({"_id": "a"}, update)
    with pytest.raises(QueryError):
        await coll.find_one_and_update({"_id": "a"}, update, upsert=True)
    assert await coll.find({}) == [{"_id": "a", "n": 1}]


@pytest.mark.parametrize(
    "filter",
    [
        {"$where": "true"},
        {"$expr": {"$eq": ["$a", 1]}},
        {"$lookup": {"from": "x"}},
        {"$nor": [{"a": 1}]},
        {"$text": {"$search": "x"}},
        {"a": {"$not": {"$eq": 1}}},
        {"a": {"$elemMatch": {"b": 1}}},
        {"a": {"$size": 1}},
        {"a": {"$type": "string"}},
        {"a": {"$all": [1]}},
        {"a": {"b": 1}},
        {"a": {}},
        {"a": [1, 2]},
        {"a": {"$in": 1}},
        {"a": {"$in": [[1]]}},
        {"a": {"$gt": None}},
        {"a": {"$lt": True}},
        {"a": {"$exists": 1}},
        {"a": {"$regex": "x", "$options": "m"}},
        {"a": {"$options": "i"}},
        {"a": {"$regex": "("}},
        {"a": {"$regex": 1}},
        {"a": {"$regex": r"(a)\1"}},  # RE2 syntax only: no backreferences, no lookaround
        {"a": {"$regex": "x(?=y)"}},
        {"a": {"$regex": "(?<!x)y"}},
        {"a": {"$regex": "x" * 513}},
        {"a": {"$elemMatch": {"$eq": None}}},
        {"a": {"$elemMatch": {"$in": ["x", None]}}},
        {"a": {"$elemMatch": {"$eq": {"b": 1}}}},
        {"a": {"$elemMatch": {"$eq": [1]}}},
        {"a": {"$elemMatch": {"$in": "x"}}},
        {"a": {"$elemMatch": {"$in": [[1]]}}},
        {"a": {"$elemMatch": {"$gt": 1}}},
        {"a": {"$elemMatch": {"$ne": 1}}},
        {"a": {"$elemMatch": {"$eq": 1, "$in": [1]}}},
        {"a": {"$elemMatch": {}}},
        {"a": {"$elemMatch": "x"}},
        {"a": {"$elemMatch": [1]}},
        {"_id": {"$elemMatch": {"$eq": "x"}}},
        {"$and": []},
        {"$or": {"a": 1}},
        {"a b": 1},
        {"a..b": 1},
        {"a.": 1},
    ],
)
async def test_filter_refuses_outside_subset(coll: Collection, filter: dict[str, Any]) -> None:
    with pytest.raises(QueryError):
        await coll.find(filter)
    with pytest.raises(QueryError):
        await coll.count(filter)
    with pytest.raises(QueryError):
        await coll.delete_many(filter)


async def test_bad_sort_window_and_names(store: Store, coll: Collection) -> None:
    for sort in ([("a", 2)], [("a", True)], [("$a", 1)], [("a", 1), ("a", -1)]):
        with pytest.raises(QueryError):
            await coll.find({}, sort=sort)
    with pytest.raises(QueryError):
        await coll.find({}, skip=-1)
    with pytest.raises(QueryError):
        await coll.find({}, limit=-1)
    for name in ("a.b", "$x", "x y", "sqlite_master", ""):
        with pytest.raises(QueryError):
            store.collection(name)


VALUES: list[tuple[str, dict[str, Any]]] = [
    ("int", {"v": 1}),
    ("true", {"v": True}),
    ("float", {"v": 1.0}),
    ("null", {"v": None}),
    ("missing", {}),
    ("str", {"v": "1"}),
    ("zero", {"v": 0}),
    ("false", {"v": False}),
    ("big", {"v": 10.5}),
    ("word", {"v": "b"}),
]


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({"v": 1}, ["float", "int"]),
        ({"v": {"$eq": 1.0}}, ["float", "int"]),
        ({"v": True}, ["true"]),
        ({"v": False}, ["false"]),
        ({"v": 0}, ["zero"]),
        ({"v": "1"}, ["str"]),
        ({"v": None}, ["missing", "null"]),
        ({"v": {"$ne": None}}, ["big", "false", "float", "int", "str", "true", "word", "zero"]),
        ({"v": {"$ne": 1}}, ["big", "false", "missing", "null", "str", "true", "word", "zero"]),
        ({"v": {"$ne": True}}, ["big", "false", "float", "int", "missing", "null", "str", "word", "zero"]),
        ({"v": {"$in": [1, None]}}, ["float", "int", "missing", "null"]),
        ({"v": {"$in": [True, "b"]}}, ["true", "word"]),
        ({"v": {"$in": []}}, []),
        ({"v": {"$nin": [1, "1", None]}}, ["big", "false", "true", "word", "zero"]),
        ({"v": {"$nin": []}}, [name for name, _ in sorted(VALUES)]),
        ({"v": {"$gt": 0}}, ["big", "float", "int"]),
        ({"v": {"$gte": 0, "$lt": 10.5}}, ["float", "int", "zero"]),
        ({"v": {"$lte": 1}}, ["float", "int", "zero"]),
        ({"v": {"$gt": "1"}}, ["word"]),
        ({"v": {"$gte": "1"}}, ["str", "word"]),
        ({"v": {"$exists": True}}, ["big", "false", "float", "int", "null", "str", "true", "word", "zero"]),
        ({"v": {"$exists": False}}, ["missing"]),
        ({"v": {"$exists": True, "$eq": None}}, ["null"]),
        ({"_id": "int"}, ["int"]),
        ({"_id": {"$in": ["int", "nope", "word"]}}, ["int", "word"]),
        ({"_id": {"$gt": "str"}}, ["true", "word", "zero"]),
        ({"_id": {"$ne": "int"}}, sorted(name for name, _ in VALUES if name != "int")),
        ({"_id": None}, []),
        ({"_id": 1}, []),
        ({"$or": [{"v": True}, {"v": 0}]}, ["true", "zero"]),
        ({"$and": [{"v": {"$gt": 0}}, {"v": {"$lt": 5}}]}, ["float", "int"]),
        ({"$or": [{"$and": [{"v": 1}, {"_id": "int"}]}, {"v": "b"}]}, ["int", "word"]),
        ({"v": 1, "$or": [{"_id": "float"}, {"_id": "true"}]}, ["float"]),
    ],
)
async def test_filter_semantics(coll: Collection, filter: dict[str, Any], expected: list[str]) -> None:
    for name, fields in VALUES:
        await coll.insert_one({"_id": name, **fields})
    assert await ids(coll, filter, sort=[("_id", 1)]) == expected
    assert await coll.count(filter) == len(expected)


async def test_regex(coll: Collection) -> None:
    for name, text in [("a", "Alpha beta"), ("b", "alphabet"), ("c", "gamma"), ("d", None), ("e", 7)]:
        await coll.insert_one({"_id": name, "t": text})
    assert await ids(coll, {"t": {"$regex": "^alpha"}}, sort=[("_id", 1)]) == ["b"]
    assert await ids(coll, {"t": {"$regex": "^alpha", "$options": "i"}}, sort=[("_id", 1)]) == ["a", "b"]
    assert await ids(coll, {"t": {"$regex": "bet"}}, sort=[("_id", 1)]) == ["a", "b"]
    assert await ids(coll, {"t": {"$regex": "7"}}) == []
    assert await ids(coll, {"t": {"$regex": "a$", "$options": ""}}, sort=[("_id", 1)]) == ["a", "c"]


async def test_nested_paths(coll: Collection) -> None:
    await coll.insert_one({"_id": "a", "sub": {"x": 1, "deep": {"y": "p"}}})
    await coll.insert_one({"_id": "b", "sub": {"x": 2}})
    await coll.insert_one({"_id": "c", "sub": 5})
    assert await ids(coll, {"sub.deep.y": "p"}) == ["a"]
    assert await ids(coll, {"sub.deep.y": None}, sort=[("_id", 1)]) == ["b", "c"]
    assert await ids(coll, {"sub.x": {"$gte": 1}}, sort=[("sub.x", -1)]) == ["b", "a"]
    assert await coll.update_one({"_id": "b"}, {"$set": {"sub.deep.y": "q", "sub.z.w": [1]}}) == 1
    assert await coll.update_one({"_id": "a"}, {"$unset": {"sub.deep.y": "", "sub.nope.q": ""}}) == 1
    assert await coll.find_one({"_id": "a"}) == {"_id": "a", "sub": {"x": 1, "deep": {}}}
    assert await coll.find_one({"_id": "b"}) == {
        "_id": "b",
        "sub": {"x": 2, "deep": {"y": "q"}, "z": {"w": [1]}},
    }
    with pytest.raises(QueryError):  # cannot create a field inside the number 5
        await coll.update_one({"_id": "c"}, {"$set": {"sub.x": 1}})
    assert await coll.find_one({"_id": "c"}) == {"_id": "c", "sub": 5}


async def test_sort_skip_limit(coll: Collection) -> None:
    rows = [("a", 2), ("b", 1), ("c", 3), ("d", 2), ("e", None), ("f", 1), ("g", None)]
    for name, prio in rows:
        await coll.insert_one({"_id": name, "prio": prio} if name != "g" else {"_id": name})
    by_prio = [("prio", -1), ("_id", 1)]
    assert await ids(coll, {}, sort=by_prio) == ["c", "a", "d", "b", "f", "e", "g"]
    assert await ids(coll, {}, sort=[("prio", 1), ("_id", -1)]) == ["g", "e", "f", "b", "d", "a", "c"]
    assert await ids(coll, {}, sort=by_prio, skip=1, limit=3) == ["a", "d", "b"]
    assert await ids(coll, {}, sort=by_prio, skip=5) == ["e", "g"]
    assert await ids(coll, {}, sort=by_prio, skip=7) == []
    assert await ids(coll, {"prio": {"$gte": 1}}, sort=by_prio, limit=2) == ["c", "a"]
    assert await coll.find_one({"prio": 2}, sort=[("_id", -1)]) == {"_id": "d", "prio": 2}
    assert await coll.count({"prio": {"$ne": None}}) == 5
    assert len(await coll.find({}, limit=0)) == 7


async def test_update_operators(coll: Collection) -> None:
    await coll.insert_one({"_id": "a", "n": 1, "list": [1], "s": "x", "keep": True})
    await coll.insert_one({"_id": "b", "n": 1})
    update: dict[str, dict[str, Any]] = {
        "$inc": {"n": 2, "fresh": 5, "ratio": 0.5},
        "$push": {"list": {"k": 2}, "new": "first"},
    }
    assert await coll.update_one({"_id": "a"}, update) == 1
    matched = await coll.update_one(
        {"_id": "a"}, {"$set": {"s": "y", "o": {"p": None}}, "$unset": {"keep": 1}}
    )
    assert matched == 1
    assert await coll.find_one({"_id": "a"}) == {
        "_id": "a",
        "n": 3,
        "list": [1, {"k": 2}],
        "s": "y",
        "fresh": 5,
        "ratio": 0.5,
        "new": ["first"],
        "o": {"p": None},
    }
    assert await coll.update_one({"_id": "a"}, {"$inc": {"n": 0.5}}) == 1
    assert (await coll.find_one({"_id": "a"}) or {})["n"] == 3.5
    assert await coll.update_many({"_id": "b"}, {"$set": {"n": True, "m": 1.0}}) == 1  # 1 -> true
    assert await coll.find_one_and_update({"n": True}, {"$set": {"m": 1}}) == {"_id": "b", "n": True, "m": 1}
    stored = await coll.find_one({"_id": "b"})
    assert stored is not None and stored["n"] is True and type(stored["m"]) is int
    assert await coll.update_one({"_id": "b"}, {"$set": {"n": 1}}) == 1
    assert await coll.find({"n": True}) == []
    assert await coll.update_one({"_id": "zzz"}, {"$set": {"n": 1}}) == 0
    for bad in ({"$inc": {"s": 1}}, {"$push": {"s": 1}}, {"$inc": {"o.p": 1}}):
        with pytest.raises(QueryError):
            await coll.update_one({"_id": "a"}, bad)
    assert (await coll.find_one({"_id": "a"}) or {})["s"] == "y"


async def test_update_many_and_deletes(coll: Collection) -> None:
    for i in range(6):
        await coll.insert_one({"_id": f"d{i}", "group": i % 2, "n": i})
    assert await coll.update_many({"group": 1}, {"$inc": {"n": 10}, "$set": {"seen": True}}) == 3
    assert await coll.update_many({"group": 7}, {"$set": {"seen": True}}) == 0
    assert await ids(coll, {"seen": True}, sort=[("n", 1)]) == ["d1", "d3", "d5"]
    assert [d["n"] for d in await coll.find({}, sort=[("_id", 1)])] == [0, 11, 2, 13, 4, 15]
    assert await coll.delete_one({"group": 0}) == 1
    assert await coll.delete_one({"group": 9}) == 0
    assert await coll.count({"group": 0}) == 2
    assert await coll.delete_many({"n": {"$gt": 10}}) == 3
    assert await coll.delete_many({"n": {"$gt": 10}}) == 0
    assert await coll.count({}) == 2


async def test_upsert(coll: Collection) -> None:
    filter = {"key": "k1", "sub.x": 1, "level": {"$eq": 3}, "state": {"$ne": "done"}, "n": {"$gt": 0}}
    update = {"$set": {"v": 1}, "$setOnInsert": {"created": 100}, "$inc": {"count": 1}}
    assert await coll.update_one(filter, update, upsert=True) == 0
    doc = await coll.find_one({"key": "k1"})
    assert doc is not None and is_hex24(doc["_id"])
    assert doc == {
        "_id": doc["_id"],
        "key": "k1",
        "sub": {"x": 1},
        "level": 3,
        "v": 1,
        "created": 100,
        "count": 1,
    }
    again = {"$set": {"v": 2}, "$setOnInsert": {"created": 5}}
    assert await coll.update_one({"key": "k1", "level": 3}, again, upsert=True) == 1
    assert await coll.find_one({"key": "k1"}) == {**doc, "v": 2}
    assert await coll.update_one({"_id": "mine", "gone": None}, {"$set": {"a": 1}}, upsert=True) == 0
    assert await coll.find_one({"_id": "mine"}) == {"_id": "mine", "gone": None, "a": 1}
    assert await coll.update_one({"k": 2}, {"$setOnInsert": {"_id": "given"}}, upsert=True) == 0
    assert await coll.find_one({"k": 2}) == {"_id": "given", "k": 2}
    for bad in ({"$or": [{"k": 3}]}, {"k": {"$in": [3]}}, {"$and": [{"k": 3}]}, {"_id": 3}):
        with pytest.raises(QueryError):
            await coll.update_one(bad, {"$set": {"a": 1}}, upsert=True)
    assert await coll.count({}) == 3


async def test_find_one_and_update(coll: Collection) -> None:
    await coll.insert_one({"_id": "a", "state": "pending", "prio": 1})
    await coll.insert_one({"_id": "b", "state": "pending", "prio": 5})
    claim: dict[str, dict[str, Any]] = {"$set": {"state": "running"}, "$inc": {"tries": 1}}
    new = await coll.find_one_and_update({"state": "pending"}, claim, sort=[("prio", -1)])
    assert new == {"_id": "b", "state": "running", "prio": 5, "tries": 1}
    old = await coll.find_one_and_update({"state": "pending"}, claim, return_new=False, sort=[("prio", -1)])
    assert old == {"_id": "a", "state": "pending", "prio": 1}
    assert await coll.find_one({"_id": "a"}) == {"_id": "a", "state": "running", "prio": 1, "tries": 1}
    assert await coll.find_one_and_update({"state": "pending"}, claim) is None
    inserted = await coll.find_one_and_update({"_id": "c"}, {"$set": {"x": 1}}, upsert=True, return_new=False)
    assert inserted is None
    assert await coll.find_one({"_id": "c"}) == {"_id": "c", "x": 1}
    made = await coll.find_one_and_update({"name": "d"}, {"$setOnInsert": {"x": 2}}, upsert=True)
    assert made is not None and is_hex24(made["_id"]) and made == {"_id": made["_id"], "name": "d", "x": 2}
    assert await coll.count({}) == 4


async def test_find_one_and_delete(coll: Collection) -> None:
    for name, at in [("a", 30), ("b", 10), ("c", 20)]:
        await coll.insert_one({"_id": name, "at": at, "k": "job"})
    assert await coll.find_one_and_delete({"k": "job"}, sort=[("at", 1)]) == {
        "_id": "b",
        "at": 10,
        "k": "job",
    }
    assert await coll.find_one_and_delete({"k": "job"}, sort=[("at", -1)]) == {
        "_id": "a",
        "at": 30,
        "k": "job",
    }
    assert await coll.find_one_and_delete({"k": "other"}) is None
    assert await ids(coll, {}) == ["c"]


async def test_unique_indexes(store: Store, coll: Collection) -> None:
    specs = [
        IndexSpec("things", (("email", 1),), unique=True),
        IndexSpec("things", (("tenant", 1), ("slug", -1)), unique=True),
        IndexSpec("things", (("at", -1), ("sub.x", 1))),
    ]
    await store.ensure_indexes(specs)
    await store.ensure_indexes(specs)  # idempotent
    await coll.insert_one({"_id": "a", "email": "x@y", "tenant": "t1", "slug": "s1"})
    await coll.insert_one({"_id": "b", "email": "z@y", "tenant": "t1", "slug": "s2"})
    await coll.insert_one({"_id": "c", "email": "w@y", "tenant": "t2", "slug": "s1"})
    for doc in (
        {"_id": "d", "email": "x@y", "tenant": "t9", "slug": "s"},
        {"_id": "d", "email": "q", "tenant": "t2", "slug": "s1"},
    ):
        with pytest.raises(DuplicateKeyError):
            await coll.insert_one(doc)
    with pytest.raises(DuplicateKeyError):
        await coll.update_one({"_id": "b"}, {"$set": {"email": "x@y"}})
    with pytest.raises(DuplicateKeyError):
        await coll.find_one_and_update({"_id": "b"}, {"$set": {"slug": "s1"}})
    with pytest.raises(DuplicateKeyError):
        await coll.update_one({"email": "x@y", "_id": "new"}, {"$set": {"k": 1}}, upsert=True)
    assert await coll.count({}) == 3
    assert await coll.find_one({"_id": "b"}) == {"_id": "b", "email": "z@y", "tenant": "t1", "slug": "s2"}
    assert await coll.update_one({"_id": "b"}, {"$set": {"email": "x@z", "slug": "s3"}}) == 1
    with pytest.raises(QueryError):
        await store.ensure_indexes([IndexSpec("things", (("a", 2),))])


async def test_concurrent_inc_is_exact(store: Store, coll: Collection, mongo_url: str) -> None:
    await needs_isolated_updates(store, mongo_url)
    await coll.insert_one({"_id": "counter", "n": 0})
    results = await asyncio.gather(
        *(coll.update_one({"_id": "counter"}, {"$inc": {"n": 1}}) for _ in range(50))
    )
    assert results == [1] * 50
    assert await coll.find_one({"_id": "counter"}) == {"_id": "counter", "n": 50}


async def test_concurrent_claims_have_one_winner(store: Store, coll: Collection, mongo_url: str) -> None:
    await needs_isolated_updates(store, mongo_url)  # two claims may both read "pending" there
    await coll.insert_one({"_id": "job", "state": "pending"})

    async def claim(worker: int) -> dict[str, Any] | None:
        return await coll.find_one_and_update(
            {"_id": "job", "state": "pending"}, {"$set": {"state": "claimed", "by": worker}}
        )

    results = await asyncio.gather(*(claim(i) for i in range(20)))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert await coll.find_one({"_id": "job"}) == {"_id": "job", "state": "claimed", "by": winners[0]["by"]}


async def test_concurrent_inserts_with_duplicates(coll: Collection) -> None:
    docs: list[dict[str, Any]] = []
    for i in range(270):
        docs.append({"_id": f"d{i:03}", "i": i, "body": f"first {i}"})
        if i % 9 == 8:  # a second document for the _id submitted eight calls earlier
            docs.append({"_id": f"d{i - 8:03}", "i": i - 8, "body": "second", "extra": [i]})
    assert len(docs) == 300
    results = await asyncio.gather(*(coll.insert_one(doc) for doc in docs), return_exceptions=True)
    stored = [doc for doc, result in zip(docs, results, strict=True) if not isinstance(result, BaseException)]
    failed = [result for result in results if isinstance(result, BaseException)]
    assert len(stored) == 270 and len(failed) == 30
    assert all(isinstance(error, DuplicateKeyError) for error in failed)
    assert [result for result in results if isinstance(result, str)] == [doc["_id"] for doc in stored]
    assert len({doc["_id"] for doc in stored}) == 270
    assert await coll.find({}, sort=[("_id", 1)]) == sorted(stored, key=lambda doc: str(doc["_id"]))


async def test_concurrent_updates_and_inserts_are_exact(
    store: Store, coll: Collection, mongo_url: str
) -> None:
    await needs_isolated_updates(store, mongo_url)
    await coll.insert_one({"_id": "counter", "n": 0, "text": "x"})
    calls: list[Any] = []
    for i in range(200):
        calls.append(coll.update_one({"_id": "counter"}, {"$inc": {"n": 1}}))
        if i % 2 == 0:
            calls.append(coll.insert_one({"_id": f"item{i:03}", "i": i}))
        if i % 25 == 0:  # fails alone: $inc on a string
            calls.append(coll.update_one({"_id": "counter"}, {"$inc": {"text": 1}}))
        if i % 4 == 0:
            calls.append(coll.find_one_and_update({"_id": "counter"}, {"$inc": {"m": 1}}))
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert sum(isinstance(r, QueryError) for r in results) == 8
    assert not [r for r in results if isinstance(r, BaseException) and not isinstance(r, QueryError)]
    assert results.count(1) == 200
    assert sorted(r for r in results if isinstance(r, str)) == [f"item{i:03}" for i in range(0, 200, 2)]
    claimed = sorted(r["m"] for r in results if isinstance(r, dict))
    assert claimed == list(range(1, 51))  # every caller saw its own increment
    assert await coll.find_one({"_id": "counter"}) == {"_id": "counter", "n": 200, "text": "x", "m": 50}
    assert await coll.count({"i": {"$exists": True}}) == 100
    assert await coll.find({"i": {"$gte": 196}}, sort=[("i", 1)]) == [
        {"_id": "item196", "i": 196},
        {"_id": "item198", "i": 198},
    ]


async def test_ping(store: Store) -> None:
    await store.ping()


async def test_sqlite_persists_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "igot.sqlite3"
    first = SqliteStore(path)
    await first.ensure_indexes([IndexSpec("users", (("email", 1),), unique=True)])
    await first.collection("users").insert_one({"_id": "u1", "email": "a@b", "tags": ["x"]})
    await first.close()
    await first.close()
    with pytest.raises(StoreUnavailableError):
        await first.ping()
    second = SqliteStore(path, synchronous="NORMAL")
    users = second.collection("users")
    assert await users.find({}) == [{"_id": "u1", "email": "a@b", "tags": ["x"]}]
    with pytest.raises(DuplicateKeyError):
        await users.insert_one({"email": "a@b"})
    await second.close()


async def test_sqlite_acknowledged_concurrent_writes_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "igot.sqlite3"
    first = SqliteStore(path)
    things, counters = first.collection("things"), first.collection("counters")
    await counters.insert_one({"_id": "c", "n": 0})
    written = await asyncio.gather(
        *(things.insert_one({"_id": f"t{i:03}", "i": i, "text": "é" * (i % 7)}) for i in range(400)),
        *(counters.update_one({"_id": "c"}, {"$inc": {"n": 1}}) for _ in range(100)),
        *(things.update_one({"_id": f"t{i:03}"}, {"$set": {"seen": True}}) for i in range(0, 400, 4)),
    )
    assert written == [f"t{i:03}" for i in range(400)] + [1] * 200
    # calls already made when close() starts are finished before the store stops
    queued = [asyncio.create_task(things.insert_one({"_id": f"late{i}", "i": -1 - i})) for i in range(50)]
    await asyncio.sleep(0)
    await first.close()
    assert await asyncio.gather(*queued) == [f"late{i}" for i in range(50)]
    with pytest.raises(StoreUnavailableError):
        await things.insert_one({"_id": "too-late"})

    second = SqliteStore(path)
    things = second.collection("things")
    assert await second.collection("counters").find({}) == [{"_id": "c", "n": 100}]
    assert await things.count({}) == 450
    assert await things.count({"seen": True}) == 100
    assert await ids(things, {"i": {"$lt": 0}}, sort=[("i", -1)]) == [f"late{i}" for i in range(50)]
    assert await things.find({"i": {"$gte": 0}}, sort=[("i", 1)]) == [
        {"_id": f"t{i:03}", "i": i, "text": "é" * (i % 7), **({"seen": True} if i % 4 == 0 else {})}
        for i in range(400)
    ]
    await second.close()


async def test_sqlite_failed_call_is_undone_alone(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "igot.sqlite3")
    await store.ensure_indexes([IndexSpec("things", (("slug", 1),), unique=True)])
    things = store.collection("things")
    for name in "abc":
        await things.insert_one({"_id": name, "slug": name, "group": "g"})
    results = await asyncio.gather(
        *(things.insert_one({"_id": f"x{i}", "slug": f"x{i}"}) for i in range(20)),
        things.update_many({"group": "g"}, {"$set": {"slug": "same"}}),  # the second document clashes
        *(things.update_one({"_id": f"x{i}"}, {"$set": {"done": True}}) for i in range(20)),
        return_exceptions=True,
    )
    assert results[:20] == [f"x{i}" for i in range(20)]
    assert isinstance(results[20], DuplicateKeyError)
    assert results[21:] == [1] * 20
    assert await things.find({"group": "g"}, sort=[("_id", 1)]) == [
        {"_id": name, "slug": name, "group": "g"} for name in "abc"
    ]
    assert await things.count({"done": True}) == 20
    await store.close()


async def test_sqlite_failed_commit_fails_the_whole_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteStore(tmp_path / "igot.sqlite3")
    kept, fresh = store.collection("kept"), store.collection("fresh")
    await kept.insert_one({"_id": "k", "n": 0})

    def failing_commit(self: SqliteWorker, conn: sqlite3.Connection) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(SqliteWorker, "_commit", failing_commit)
    results = await asyncio.gather(
        *(fresh.insert_one({"_id": f"f{i}"}) for i in range(40)),
        kept.update_one({"_id": "k"}, {"$inc": {"n": 1}}),
        kept.insert_one({"_id": "k"}),  # would be a duplicate: the batch fails first
        kept.find_one_and_delete({"_id": "k"}),
        return_exceptions=True,
    )
    assert all(isinstance(r, StoreUnavailableError) for r in results)
    monkeypatch.undo()
    assert await kept.find({}) == [{"_id": "k", "n": 0}]
    assert await fresh.count({}) == 0  # its table was rolled back too, and is made again
    assert await fresh.insert_one({"_id": "f0"}) == "f0"
    assert await kept.update_one({"_id": "k"}, {"$inc": {"n": 1}}) == 1
    assert await kept.find({}) == [{"_id": "k", "n": 1}]
    await store.close()


async def test_sqlite_unusable_path_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    broken = SqliteStore(tmp_path / "file" / "igot.sqlite3")
    with pytest.raises(StoreUnavailableError):
        await broken.ping()
    with pytest.raises(StoreUnavailableError):
        await broken.collection("x").insert_one({"a": 1})
    await broken.close()


async def test_mongo_unreachable_is_unavailable() -> None:
    store = MongoStore("mongodb://127.0.0.1:1/", "igot_nowhere", server_selection_timeout_ms=300)
    try:
        with pytest.raises(StoreUnavailableError):
            await store.ping()
        with pytest.raises(StoreUnavailableError):
            await store.collection("x").find_one({})
        with pytest.raises(StoreUnavailableError):
            await store.collection("x").insert_one({"a": 1})
    finally:
        await store.close()
