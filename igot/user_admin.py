"""`igot user list|disable|enable|delete`: operators manage accounts in the store of `IGOT_MODE`.

A change is written to the store, then announced on the bus of the same mode, so that the key caches of
running gateways drop the account's keys at once; when the bus cannot be reached the change holds all
the same and the caches catch up within their TTL. A deletion only marks the account: the purge of the
running auth service removes its data.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

from igot.runtime import open_bus
from services.auth import account_lifecycle
from services.auth.data import users
from shared.bus import Bus, BusUnavailableError
from shared.settings import Settings
from shared.store import Store
from shared.store.scan import scan
from shared.timefmt import iso_ms

Action = Literal["disable", "enable", "delete"]
SHOWN_KEY_CHARS = 4


def shown_user(user: dict[str, Any], *, show_keys: bool) -> dict[str, Any]:
    key = str(user.get("key", ""))
    created = user.get("createdAt")
    return {
        "id": user["_id"],
        "email": user.get("email", ""),
        "status": users.status_of(user),
        "createdAt": iso_ms(created) if isinstance(created, int) else None,
        "key": key if show_keys else f"{key[:SHOWN_KEY_CHARS]}****",
    }


async def list_users(store: Store, *, show_keys: bool) -> list[dict[str, Any]]:
    """Every user, oldest id first, read a page at a time."""
    listed: list[dict[str, Any]] = []
    async for page in scan(store.collection(users.COLLECTION), {}):
        listed.extend(shown_user(user, show_keys=show_keys) for user in page)
    return listed


def table(rows: list[dict[str, Any]]) -> str:
    """The listing as aligned columns under a header line."""
    columns = ("id", "email", "status", "createdAt", "key")
    cells = [columns, *[tuple(str(row[name] or "") for name in columns) for row in rows]]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in cells
    )


@asynccontextmanager
async def announcing_bus(settings: Settings, store: Store) -> AsyncIterator[Bus]:
    """The bus of the mode, started when it can be; a bus that could not start only fails to announce."""
    bus = open_bus(settings, settings.mode, store=store)
    try:
        await bus.start()
    except BusUnavailableError as error:
        sys.stderr.write(f"igot: bus unreachable ({error}): running servers notice within seconds\n")
    try:
        yield bus
    finally:
        await bus.stop()


async def change_account(settings: Settings, store: Store, who: str, action: Action) -> str:
    """Apply `action` to the user named by e-mail or id; returns what happened, for the operator."""
    user = await account_lifecycle.find_user(store, who)
    email = user.get("email", user["_id"])
    async with announcing_bus(settings, store) as bus:
        if action == "disable":
            changed = await account_lifecycle.disable(store, bus, user)
            return f"user {email} disabled" if changed else f"user {email} was disabled already"
        if action == "enable":
            changed = await account_lifecycle.enable(store, bus, user)
            return f"user {email} enabled" if changed else f"user {email} is active already"
        deleting = users.status_of(user) == users.DELETING
        await account_lifecycle.mark_deleting(store, bus, user)
        state = "was being deleted already" if deleting else "deleted: its keys and sessions stopped"
        return f"user {email} {state}; the running auth service removes its data"
