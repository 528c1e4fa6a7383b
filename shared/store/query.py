"""The query and update subset of the store port, in one place for both adapters.

`parse_filter` validates a filter and turns it into a small tree the SQLite adapter translates to SQL;
the MongoDB adapter validates with it too and sends the original filter. `validate_update`,
`apply_update` and `upsert_seed` do the same for updates, and `check_projection` for projections, so
both adapters accept and refuse exactly the same calls.

`$regex` patterns are compiled with RE2, which matches in time linear in the text: a pattern RE2 cannot
compile (backreferences, lookaround) is refused here, for both adapters, rather than handed to a
backtracking engine.
"""

from __future__ import annotations

import copy
import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import re2  # type: ignore[import-untyped]

from shared.ids import new_id
from shared.store.port import (
    Document,
    Filter,
    IndexSpec,
    Projection,
    QueryError,
    SortSpec,
    Update,
    check_key,
)

PATH_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")
FIELD_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
COLLECTION_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

FIELD_OPERATORS = frozenset(
    {"$eq", "$ne", "$in", "$nin", "$lt", "$lte", "$gt", "$gte", "$exists", "$regex", "$options", "$elemMatch"}
)
MAX_PATTERN_LENGTH = 512
COMPARISONS = frozenset({"$lt", "$lte", "$gt", "$gte"})
UPDATE_OPERATORS = ("$set", "$unset", "$inc", "$push", "$setOnInsert")


@dataclass(frozen=True)
class Cond:
    """One condition on one field.

    `value` is a scalar for `$eq $ne` and the comparisons, a tuple of scalars for `$in $nin` and
    `$elemMatch` (an element equal to any of them), a bool for `$exists` and a `Pattern` for `$regex`.
    """

    path: str
    op: str
    value: Any


@dataclass(frozen=True)
class Logical:
    op: str  # "$and" or "$or"
    items: tuple[Cond | Logical, ...]


Node = Cond | Logical


@dataclass(frozen=True)
class Pattern:
    """A `$regex` that RE2 compiled; `source` is what the caller gave, and what MongoDB receives."""

    source: str
    ignore_case: bool

    def search(self, text: str) -> bool:
        return compile_pattern(self.source, self.ignore_case).search(text) is not None


@functools.lru_cache(maxsize=256)
def compile_pattern(source: str, ignore_case: bool) -> Any:
    """The RE2 program for a pattern; cached, since SQLite asks for it once per row it matches."""
    options = re2.Options()
    options.case_sensitive = not ignore_case
    options.log_errors = False  # a refused pattern is the caller's error, already reported as such
    return re2.compile(source, options)


def check_path(path: object, *, where: str = "field") -> str:
    if not isinstance(path, str) or not PATH_RE.match(path):
        raise QueryError(f"{where}: path {path!r} is not allowed")
    return path


def check_collection_name(name: object) -> str:
    if not isinstance(name, str) or not COLLECTION_RE.match(name) or name.lower().startswith("sqlite_"):
        raise QueryError(f"collection name {name!r} is not allowed")
    return name


def _check_number(value: object, where: str) -> None:
    if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
        raise QueryError(f"{where}: integer {value} does not fit in 64 bits")
    if isinstance(value, float) and not math.isfinite(value):
        raise QueryError(f"{where}: {value} is not a finite number")


def check_value(value: Any, *, where: str = "document") -> None:
    """Values are JSON-like: str, int (64 bits), finite float, bool, None, dict, list."""
    checked_copy(value, where=where)


def checked_copy(value: Any, *, where: str = "document") -> Any:
    """A copy of a JSON-like value, its keys and values checked in the same pass (the insert path's cost)."""
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, int | float):
        _check_number(value, where)
        return value
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            check_key(key, where=where)
            out[key] = checked_copy(item, where=where)
        return out
    if isinstance(value, list):
        return [checked_copy(item, where=where) for item in value]
    raise QueryError(f"{where}: values of type {type(value).__name__} are not allowed")


def check_document(doc: Mapping[str, Any]) -> Document:
    """A checked copy of `doc` to insert, `_id` first (generated when missing)."""
    if not isinstance(doc, Mapping):
        raise QueryError("a document must be a mapping")
    out: Document = {"_id": doc["_id"] if "_id" in doc else new_id()}
    if not isinstance(out["_id"], str):
        raise QueryError("_id must be a string")
    for key, value in doc.items():
        if key != "_id":
            check_key(key)
            out[key] = checked_copy(value)
    return out


def _scalar(value: object, where: str) -> Any:
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, int | float):
        _check_number(value, where)
        return value
    raise QueryError(f"{where}: only strings, numbers, booleans and None can be compared")


def _field(path: str, spec: Any) -> list[Node]:
    if not isinstance(spec, Mapping):
        return [Cond(path, "$eq", _scalar(spec, path))]
    if not spec or not all(isinstance(op, str) and op in FIELD_OPERATORS for op in spec):
        raise QueryError(f"{path}: unsupported operator or sub-document in {dict(spec)!r}")
    out: list[Node] = []
    for op, value in spec.items():
        if op in ("$eq", "$ne"):
            out.append(Cond(path, op, _scalar(value, path)))
        elif op in ("$in", "$nin"):
            if not isinstance(value, list):
                raise QueryError(f"{path}: {op} takes a list")
            out.append(Cond(path, op, tuple(_scalar(item, path) for item in value)))
        elif op in COMPARISONS:
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise QueryError(f"{path}: {op} compares strings or numbers only")
            out.append(Cond(path, op, _scalar(value, path)))
        elif op == "$exists":
            if not isinstance(value, bool):
                raise QueryError(f"{path}: $exists takes true or false")
            out.append(Cond(path, op, value))
        elif op == "$regex":
            out.append(Cond(path, op, _regex(path, value, spec.get("$options", ""))))
        elif op == "$elemMatch":
            out.append(Cond(path, op, _element_values(path, value)))
        elif "$regex" not in spec:  # "$options"
            raise QueryError(f"{path}: $options without $regex")
    return out


def _element_values(path: str, spec: object) -> tuple[Any, ...]:
    """The values `$elemMatch` looks for: exactly `{"$eq": x}` or `{"$in": [x, ...]}`, no null."""
    if path == "_id":
        raise QueryError("_id is never an array: $elemMatch does not apply")
    if not isinstance(spec, Mapping) or len(spec) != 1:
        raise QueryError(f"{path}: $elemMatch takes {{'$eq': value}} or {{'$in': [values]}}")
    ((op, value),) = spec.items()
    if op == "$eq":
        values = [value]
    elif op == "$in" and isinstance(value, list):
        values = value
    else:
        raise QueryError(f"{path}: $elemMatch takes {{'$eq': value}} or {{'$in': [values]}}")
    if any(item is None for item in values):
        raise QueryError(f"{path}: $elemMatch compares strings, numbers and booleans only")
    return tuple(_scalar(item, path) for item in values)


def _regex(path: str, pattern: object, options: object) -> Pattern:
    if not isinstance(pattern, str):
        raise QueryError(f"{path}: $regex takes a string")
    if options not in ("", "i"):
        raise QueryError(f"{path}: $options may only be 'i'")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise QueryError(f"{path}: $regex patterns are limited to {MAX_PATTERN_LENGTH} characters")
    try:
        compile_pattern(pattern, options == "i")
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else exc
        raise QueryError(f"{path}: not a regular expression RE2 accepts: {reason}") from None
    return Pattern(pattern, options == "i")


def parse_filter(filter: Filter) -> Logical:
    """Validate `filter`; the result is an `$and` of its parts (empty for `{}`)."""
    if not isinstance(filter, Mapping):
        raise QueryError("a filter must be a mapping")
    items: list[Node] = []
    for key, spec in filter.items():
        if key in ("$and", "$or"):
            if not isinstance(spec, list) or not spec:
                raise QueryError(f"{key} takes a non-empty list of filters")
            items.append(Logical(key, tuple(parse_filter(part) for part in spec)))
        elif isinstance(key, str) and key.startswith("$"):
            raise QueryError(f"operator {key!r} is not supported")
        else:
            items.extend(_field(check_path(key, where="filter"), spec))
    return Logical("$and", tuple(items))


def check_projection(projection: Projection | None) -> list[str] | None:
    """The top-level field names to return besides `_id`; None returns whole documents."""
    if projection is None:
        return None
    if isinstance(projection, str | bytes) or not isinstance(projection, Sequence):
        raise QueryError("projection: a list of field names")
    for name in projection:
        if not isinstance(name, str) or not FIELD_NAME_RE.match(name):
            raise QueryError(f"projection: {name!r} is not a top-level field name")
    return list(dict.fromkeys(projection))


def project(doc: Document, names: list[str] | None) -> Document:
    """`doc` with only `_id` and `names` (when given), in the document's own order."""
    if names is None:
        return doc
    keep = {"_id", *names}
    return {key: value for key, value in doc.items() if key in keep}


def validate_sort(sort: SortSpec | None) -> list[tuple[str, int]]:
    if sort is None:
        return []
    out: list[tuple[str, int]] = []
    for item in sort:
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise QueryError(f"sort: {item!r} is not a (field, direction) pair")
        path, direction = item
        check_path(path, where="sort")
        if isinstance(direction, bool) or direction not in (1, -1):
            raise QueryError(f"sort: direction of {path!r} must be 1 or -1")
        if any(path == seen for seen, _ in out):
            raise QueryError(f"sort: {path!r} appears twice")
        out.append((path, direction))
    return out


def check_index(spec: IndexSpec) -> IndexSpec:
    check_collection_name(spec.collection)
    if not spec.fields:
        raise QueryError(f"index on {spec.collection}: no fields")
    validate_sort(spec.fields)
    return spec


def validate_window(skip: int, limit: int) -> None:
    for name, value in (("skip", skip), ("limit", limit)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise QueryError(f"{name} must be a non-negative integer")


def validate_batch_size(batch_size: int) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise QueryError("batch_size must be a positive integer")


def _conflict(a: str, b: str) -> bool:
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def validate_update(update: Update) -> None:
    if not isinstance(update, Mapping) or not update:
        raise QueryError("an update must be a non-empty mapping of operators")
    paths: list[str] = []
    for op, body in update.items():
        if op not in UPDATE_OPERATORS:
            raise QueryError(f"update operator {op!r} is not supported")
        if not isinstance(body, Mapping) or not body:
            raise QueryError(f"{op} takes a non-empty mapping")
        for path, value in body.items():
            check_path(path, where=op)
            on_id = path == "_id" or path.startswith("_id.")
            if on_id and (op != "$setOnInsert" or path != "_id" or not isinstance(value, str)):
                raise QueryError(f"{op}: _id cannot be changed")
            if op == "$inc":
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise QueryError(f"$inc: {path!r} takes a number")
                _check_number(value, op)
            else:
                check_value(value, where=op)
            if any(_conflict(path, seen) for seen in paths):
                raise QueryError(f"update: paths conflict at {path!r}")
            paths.append(path)


def _parent(doc: Document, path: str, *, create: bool) -> tuple[dict[str, Any] | None, str]:
    parts = path.split(".")
    node: Any = doc
    for part in parts[:-1]:
        child = node.get(part)
        if child is None and part not in node:
            if not create:
                return None, parts[-1]
            child = node[part] = {}
        if not isinstance(child, dict):
            if not create:
                return None, parts[-1]
            raise QueryError(f"cannot create field {path!r}: {part!r} is not a sub-document")
        node = child
    return node, parts[-1]


def apply_update(doc: Document, update: Update, *, inserting: bool = False) -> Document:
    """A copy of `doc` with a validated `update` applied, as MongoDB applies it."""
    out = copy.deepcopy(doc)
    for op, body in update.items():
        if op == "$setOnInsert" and not inserting:
            continue
        for path, value in body.items():
            parent, last = _parent(out, path, create=op != "$unset")
            if parent is None:
                continue
            if op in ("$set", "$setOnInsert"):
                parent[last] = copy.deepcopy(value)
            elif op == "$unset":
                parent.pop(last, None)
            elif op == "$inc":
                current = parent.get(last, 0)
                if isinstance(current, bool) or not isinstance(current, int | float):
                    raise QueryError(f"$inc: {path!r} is not a number")
                parent[last] = current + value
                _check_number(parent[last], op)
            else:  # "$push"
                if last not in parent:
                    parent[last] = []
                if not isinstance(parent[last], list):
                    raise QueryError(f"$push: {path!r} is not an array")
                parent[last].append(copy.deepcopy(value))
    return out


def upsert_seed(tree: Logical) -> Document:
    """The document an upsert starts from: the top-level equality fields of the filter.

    `$and`, `$or` and `$in` are refused in an upsert's filter, since servers disagree on what they seed.
    """
    seed: Document = {}
    paths: list[str] = []
    for item in tree.items:
        if isinstance(item, Logical) or item.op == "$in":
            raise QueryError("an upsert's filter may not use $and, $or or $in")
        if item.op != "$eq":
            continue
        if any(_conflict(item.path, seen) for seen in paths):
            raise QueryError(f"upsert: the filter sets {item.path!r} twice")
        paths.append(item.path)
        parent, last = _parent(seed, item.path, create=True)
        assert parent is not None
        parent[last] = item.value
    if "_id" in seed and not isinstance(seed["_id"], str):
        raise QueryError("_id must be a string")
    return seed


def prepare_upsert(tree: Logical, update: Update) -> tuple[Document, Update]:
    """The seed of an upsert and its update, the latter giving the `_id` when the filter does not."""
    seed = upsert_seed(tree)
    on_insert = dict(update.get("$setOnInsert", {}))
    if "_id" in seed and "_id" in on_insert:
        raise QueryError("upsert: both the filter and $setOnInsert give _id")
    if "_id" in seed or "_id" in on_insert:
        return seed, update
    return seed, {**update, "$setOnInsert": {**on_insert, "_id": new_id()}}


def upsert_document(seed: Document, update: Update) -> Document:
    """The document an upsert inserts: the seed with the update applied, `_id` first."""
    doc = apply_update(seed, update, inserting=True)
    doc_id = doc.pop("_id") if "_id" in doc else new_id()
    return {"_id": doc_id, **doc}
