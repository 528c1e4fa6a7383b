"""The store port (`port.py`) and its adapters: `mongo.py` (distributed) and `sqlite.py` (standalone)."""

from shared.store.port import (
    Collection,
    Document,
    DuplicateKeyError,
    Filter,
    IndexSpec,
    QueryError,
    SortSpec,
    Store,
    StoreError,
    StoreUnavailableError,
    Update,
)

__all__ = [
    "Collection",
    "Document",
    "DuplicateKeyError",
    "Filter",
    "IndexSpec",
    "QueryError",
    "SortSpec",
    "Store",
    "StoreError",
    "StoreUnavailableError",
    "Update",
]
