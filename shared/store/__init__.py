"""The store port (`port.py`) and its adapters: `mongo.py` (distributed) and `sqlite.py` (standalone).

`scan` pages through large result sets the same way on both.
"""

from shared.store.port import (
    Collection,
    Document,
    DuplicateKeyError,
    Filter,
    IndexSpec,
    Projection,
    QueryError,
    SortSpec,
    Store,
    StoreError,
    StoreUnavailableError,
    Update,
)
from shared.store.scan import scan

__all__ = [
    "Collection",
    "Document",
    "DuplicateKeyError",
    "Filter",
    "IndexSpec",
    "Projection",
    "QueryError",
    "SortSpec",
    "Store",
    "StoreError",
    "StoreUnavailableError",
    "Update",
    "scan",
]
