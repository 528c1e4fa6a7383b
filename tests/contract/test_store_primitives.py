"""Bulk insert, array elements, projection, paging and insert robustness: both adapters, one suite."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from shared.ids import is_hex24
from shared.store import Collection, DuplicateKeyError, IndexSpec, QueryError, Store, StoreError, scan
from shared.store.mongo import MongoCollection, MongoStore
from tests.contract.test_store_contract import coll, ids, store

__all__ = ["coll", "store"]  # the fixtures of the contract suite, over both adapters


async def test_insert_many_skips_what_exists(store: Store, coll: Collection) -> None:
    await store.ensure_indexes([IndexSpec("things", (("slug", 1),), unique=True)])
    await coll.insert_one({"_id": "b", "slug": "b", "v": "old"})
    docs: list[dict[str, Any]] = [
        {"_id": "a", "slug": "a"},
        {"_id": "b", "slug": "b2", "v": "new"},  # _id taken
        {"_id": "c", "slug": "b"},  # unique slug taken
        {"_id": "d", "slug": "d"},
        {"_id": "a", "slug": "a2"},  # repeated within the call: the first one wins
        {"slug": "e"},
    ]
    inserted = await coll.insert_many(docs)
    assert inserted[:2] == ["a", "d"] and len(inserted) == 3 and is_hex24(inserted[2])
    assert docs[5] == {"slug": "e"}  # the caller's document is not changed
    assert await coll.find({}, sort=[("_id", 1)], projection=["slug", "v"]) == sorted(
        [
            {"_id": "a", "slug": "a"},
            {"_id": "b", "slug": "b", "v": "old"},
            {"_id": "d", "slug": "d"},
            {"_id": inserted[2], "slug": "e"},
        ],
        key=lambda doc: str(doc["_id"]),
    )
    assert await coll.insert_many(docs[:5]) == []  # a re-run writes nothing twice
    assert await coll.insert_many([]) == []


async def test_insert_many_in_chunks_writes_only_what_is_missing(coll: Collection) -> None:
    docs = [{"_id": f"m{i:04}", "i": i} for i in range(1_234)]
    assert await coll.insert_many(docs[300:400]) == [f"m{i:04}" for i in range(300, 400)]
    inserted = await coll.insert_many(docs)  # as a fan-out re-run after a crash would
    assert inserted == [f"m{i:04}" for i in range(1_234) if not 300 <= i < 400]
    assert await coll.count({}) == 1_234


@pytest.mark.parametrize("bad", [{"a.b": 1}, {"_id": 5}, {"k\x00": 1}, {"n": float("inf")}, "not a document"])
async def test_insert_many_validates_everything_first(coll: Collection, bad: Any) -> None:
    with pytest.raises(QueryError):
        await coll.insert_many([{"_id": f"ok{i}"} for i in range(600)] + [bad])
    assert await coll.count({}) == 0


TOPICS: list[tuple[str, dict[str, Any]]] = [
    ("both", {"topics": ["news", "sport"]}),
    ("sport", {"topics": ["sport"]}),
    ("scalar", {"topics": "news"}),
    ("missing", {}),
    ("null", {"topics": None}),
    ("empty", {"topics": []}),
    ("mixed", {"topics": [1, "1", True, None, 2.5, {"k": "news"}]}),
    ("float", {"topics": [1.0]}),
    ("false", {"topics": [False, 0]}),
    ("nested", {"sub": {"topics": ["news"]}}),
    ("text", {"topics": ['{"k":"news"}']}),
]


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({"topics": {"$elemMatch": {"$eq": "news"}}}, ["both"]),
        ({"topics": {"$elemMatch": {"$in": ["news", "sport"]}}}, ["both", "sport"]),
        ({"topics": {"$elemMatch": {"$in": []}}}, []),
        ({"topics": {"$elemMatch": {"$eq": 1}}}, ["float", "mixed"]),
        ({"topics": {"$elemMatch": {"$eq": "1"}}}, ["mixed"]),
        ({"topics": {"$elemMatch": {"$eq": True}}}, ["mixed"]),
        ({"topics": {"$elemMatch": {"$eq": False}}}, ["false"]),
        ({"topics": {"$elemMatch": {"$eq": 0}}}, ["false"]),
        ({"topics": {"$elemMatch": {"$in": [2.5, "zzz"]}}}, ["mixed"]),
        ({"topics": {"$elemMatch": {"$eq": '{"k":"news"}'}}}, ["text"]),
        ({"sub.topics": {"$elemMatch": {"$eq": "news"}}}, ["nested"]),
        ({"topics": {"$elemMatch": {"$eq": "sport"}}, "_id": {"$ne": "both"}}, ["sport"]),
        ({"topics": {"$elemMatch": {"$eq": "sport"}, "$exists": True}}, ["both", "sport"]),
        ({"$or": [{"topics": {"$elemMatch": {"$eq": "news"}}}, {"_id": "empty"}]}, ["both", "empty"]),
        (
            {
                "$and": [
                    {"topics": {"$elemMatch": {"$eq": "news"}}},
                    {"topics": {"$elemMatch": {"$eq": "sport"}}},
                ]
            },
            ["both"],
        ),
    ],
)
async def test_elem_match(coll: Collection, filter: dict[str, Any], expected: list[str]) -> None:
    await coll.insert_many([{"_id": name, **fields} for name, fields in TOPICS])
    assert await ids(coll, filter, sort=[("_id", 1)]) == expected
    assert await coll.count(filter) == len(expected)


async def test_elem_match_in_writes(coll: Collection) -> None:
    await coll.insert_many([{"_id": name, **fields} for name, fields in TOPICS])
    news = {"topics": {"$elemMatch": {"$in": ["news"]}}}
    assert await coll.update_many(news, {"$set": {"told": True}}) == 1
    sport = {"topics": {"$elemMatch": {"$eq": "sport"}}}
    assert await coll.find_one_and_delete(sport, sort=[("_id", -1)]) == {"_id": "sport", "topics": ["sport"]}
    assert await coll.delete_many(news) == 1
    assert await coll.count({"told": True}) == 0


async def test_projection(coll: Collection) -> None:
    await coll.insert_one({"_id": "a", "x": 1, "y": {"z": [1]}, "big": "text" * 100})
    await coll.insert_one({"_id": "b", "y": None})
    assert await coll.find({}, sort=[("_id", 1)], projection=["y", "x", "nope"]) == [
        {"_id": "a", "x": 1, "y": {"z": [1]}},
        {"_id": "b", "y": None},
    ]
    assert await coll.find({"x": 1}, projection=[]) == [{"_id": "a"}]
    assert await coll.find({}, sort=[("_id", -1)], limit=1, projection=["_id", "x"]) == [{"_id": "b"}]
    assert await coll.find_one({"_id": "a"}, projection=["x"]) == {"_id": "a", "x": 1}
    assert await coll.find_one({"_id": "nope"}, projection=["x"]) is None
    bad_projections: list[Any] = [["y.z"], ["$x"], [""], ["a b"], [1], "x", [None]]
    for bad in bad_projections:
        with pytest.raises(QueryError):
            await coll.find({}, projection=bad)
        with pytest.raises(QueryError):
            await coll.find_one({}, projection=bad)


async def test_scan_pages_in_id_order(coll: Collection) -> None:
    wanted = [{"_id": f"s{i:04}", "kind": "wanted", "i": i, "pad": "x"} for i in range(1_234)]
    others = [{"_id": f"s{i:04}x", "kind": "other"} for i in range(0, 1_234, 7)]
    await coll.insert_many(wanted + others)
    pages = [page async for page in scan(coll, {"kind": "wanted"}, batch_size=500, projection=["i"])]
    assert [len(page) for page in pages] == [500, 500, 234]
    assert [doc for page in pages for doc in page] == [{"_id": doc["_id"], "i": doc["i"]} for doc in wanted]
    everything = [doc["_id"] async for page in scan(coll, {}, batch_size=1_000) for doc in page]
    assert everything == sorted(str(doc["_id"]) for doc in wanted + others)
    assert [page async for page in scan(coll, {"kind": "none"})] == []
    with pytest.raises(QueryError):
        await anext(scan(coll, {}, batch_size=0))


async def test_scan_sees_writes_ahead_of_its_position_only(coll: Collection) -> None:
    await coll.insert_many([{"_id": f"k{i:02}", "n": i} for i in range(10, 30)])
    pages = scan(coll, {"n": {"$gte": 0}}, batch_size=5)
    first = await anext(pages)
    assert [doc["_id"] for doc in first] == ["k10", "k11", "k12", "k13", "k14"]
    await coll.insert_many([{"_id": "k05", "n": 5}, {"_id": "k12a", "n": 12}, {"_id": "k50", "n": 50}])
    await coll.delete_one({"_id": "k20"})
    rest = [doc["_id"] async for page in pages for doc in page]
    expected = [f"k{i:02}" for i in range(15, 30) if i != 20] + ["k50"]
    assert rest == expected  # behind the position (k05, k12a): never; ahead (k50): yes; nothing twice


async def test_stream_gives_every_match_once_in_pages(coll: Collection) -> None:
    wanted = [{"_id": f"w{i:04}", "kind": "wanted", "i": i, "pad": "x"} for i in range(1_234)]
    others = [{"_id": f"w{i:04}x", "kind": "other"} for i in range(0, 1_234, 7)]
    await coll.insert_many(wanted + others)
    pages = [page async for page in coll.stream({"kind": "wanted"}, batch_size=500, projection=["i"])]
    assert sorted(len(page) for page in pages) == [234, 500, 500]
    streamed = sorted((doc for page in pages for doc in page), key=lambda doc: str(doc["_id"]))
    assert streamed == [{"_id": doc["_id"], "i": doc["i"]} for doc in wanted]
    exact = [page async for page in coll.stream({"kind": "other"}, batch_size=len(others))]
    assert [len(page) for page in exact] == [len(others)]  # a full last page ends the stream too
    assert [page async for page in coll.stream({"kind": "none"})] == []
    with pytest.raises(QueryError):
        await anext(coll.stream({}, batch_size=0))
    with pytest.raises(QueryError):
        await anext(coll.stream({"$where": "1"}))


async def test_regex_has_no_catastrophic_backtracking(coll: Collection) -> None:
    await coll.insert_many([{"_id": "evil", "t": "a" * 40 + "b"}, {"_id": "fine", "t": "aaa"}])
    # a backtracking engine needs 2**40 steps for the first document
    found = await asyncio.wait_for(ids(coll, {"t": {"$regex": "(a+)+$"}}), timeout=10)
    assert found == ["fine"]
    assert await ids(coll, {"t": {"$regex": "^A+B$", "$options": "i"}}) == ["evil"]


async def test_a_document_bson_refuses_fails_alone(coll: Collection) -> None:
    docs: list[dict[str, Any]] = [{"_id": f"n{i:02}", "i": i} for i in range(20)]
    docs[7] = {"_id": "n07", "bad\x00key": 1}
    results = await asyncio.wait_for(
        asyncio.gather(*(coll.insert_one(doc) for doc in docs), return_exceptions=True), timeout=30
    )
    assert isinstance(results[7], QueryError)
    assert [r for i, r in enumerate(results) if i != 7] == [f"n{i:02}" for i in range(20) if i != 7]
    assert await ids(coll, {}, sort=[("_id", 1)]) == [f"n{i:02}" for i in range(20) if i != 7]


async def test_mongo_insert_batch_surprise_fails_its_callers_and_later_inserts_work(
    store: Store, coll: Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not isinstance(store, MongoStore):
        pytest.skip("the MongoDB adapter's insert batching")
    real = MongoCollection._insert_batch
    during: list[asyncio.Task[str]] = []

    async def surprising(self: MongoCollection, docs: list[dict[str, Any]]) -> dict[int, StoreError]:
        if during:
            return await real(self, docs)
        # an insert that arrives while the batch is in flight waits for the next batch
        during.append(asyncio.create_task(self.insert_one({"_id": "during"})))
        await asyncio.sleep(0)
        raise RuntimeError("a driver surprise")

    monkeypatch.setattr(MongoCollection, "_insert_batch", surprising)
    first = await asyncio.wait_for(
        asyncio.gather(*(coll.insert_one({"_id": f"f{i}"}) for i in range(10)), return_exceptions=True),
        timeout=30,
    )
    assert all(isinstance(r, StoreError) and not isinstance(r, DuplicateKeyError) for r in first)
    assert await asyncio.wait_for(during[0], timeout=30) == "during"
    assert await asyncio.wait_for(coll.insert_one({"_id": "later"}), timeout=30) == "later"
    assert await ids(coll, {}, sort=[("_id", 1)]) == ["during", "later"]
