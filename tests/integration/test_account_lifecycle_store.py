"""The account lifecycle on both stores: deletion codes (throttled, hashed, tries bounded even when
guessed at once), disable / enable / delete states, the purge (everything of the account, nothing of
anyone else's, resumable after a crash) and the export's paging."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any, cast

import pytest

from services.auth import account_export, accounts, purge
from services.auth.account_lifecycle import (
    MAX_TRIES,
    AccountDeletion,
    DeletionPolicy,
    disable,
    enable,
    find_user,
    mark_deleting,
)
from services.auth.data import deletion_codes, login_codes, signin_codes, users, verifications
from shared.bus import Bus
from shared.data import (
    complaints,
    deliveries,
    group_links,
    inbox,
    keys,
    messages,
    outbox,
    push_ways,
    subscriptions,
    tokens,
)
from shared.envelope import ApiError, Ret
from shared.ids import new_id, now_ms
from shared.messages.account import AccountMailRequestedV1
from shared.messages.base import BusMessage
from shared.messages.keys import KeysChangedV1
from shared.store import Store


class RecordingBus:
    """Only what the lifecycle uses of a bus: publish, recorded."""

    def __init__(self) -> None:
        self.published: list[BusMessage] = []

    async def publish(self, message: BusMessage, *, headers: Any = None) -> None:
        self.published.append(message)

    def mails(self) -> list[AccountMailRequestedV1]:
        return [m for m in self.published if isinstance(m, AccountMailRequestedV1)]

    def announced(self) -> list[str]:
        return [m.user_id for m in self.published if isinstance(m, KeysChangedV1)]


def deletion(store: Store, bus: RecordingBus, *, interval: int = 60, per_day: int = 10) -> AccountDeletion:
    policy = DeletionPolicy(code_ttl_seconds=600, mail_interval_seconds=interval, mails_per_day=per_day)
    return AccountDeletion(store, cast(Bus, bus), policy)


async def refusal(call: Any) -> ApiError:
    with pytest.raises(ApiError) as error:
        await call
    return error.value


async def test_a_code_is_mailed_stored_hashed_and_throttled(store: Store) -> None:
    user = await accounts.create_user(store, "Code@Example.com")
    bus = RecordingBus()
    await deletion(store, bus).send_code(user.id)
    (mail,) = bus.mails()
    assert (mail.email, mail.purpose, mail.link) == ("code@example.com", "delete-account", None)
    assert len(mail.code) == 6 and mail.code.isdigit()
    assert mail.expires_at - mail.created_at == 600_000
    stored = await store.collection(deletion_codes.COLLECTION).find({})
    assert len(stored) == 1 and mail.code not in json.dumps(stored)

    throttled = await refusal(deletion(store, bus).send_code(user.id))
    assert throttled.ret == Ret.RATE_LIMITED and 1 <= int(throttled.headers["Retry-After"]) <= 60
    assert len(bus.mails()) == 1
    assert await store.collection(deletion_codes.COLLECTION).count({}) == 1  # the refused one is not kept

    # Without an interval, the daily cap still holds.
    other = await accounts.create_user(store, "daily@example.com")
    for _ in range(3):
        await deletion(store, bus, interval=0, per_day=3).send_code(other.id)
    capped = await refusal(deletion(store, bus, interval=0, per_day=3).send_code(other.id))
    assert capped.ret == Ret.RATE_LIMITED and int(capped.headers["Retry-After"]) > 23 * 3600


async def test_guesses_are_bounded_even_at_once_and_the_right_code_deletes(store: Store) -> None:
    user = await accounts.create_user(store, "guess@example.com")
    token = "t" * 32
    await tokens.insert(
        store, token=token, user_id=user.id, created_at=now_ms(), expires_at=now_ms() + 60_000
    )
    bus = RecordingBus()
    flow = deletion(store, bus, interval=0)
    await flow.send_code(user.id)
    code = bus.mails()[-1].code
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"

    # Malformed codes are refused before they cost a try.
    assert (await refusal(flow.confirm(user.id, ""))).ret == Ret.CODE_EMPTY
    assert (await refusal(flow.confirm(user.id, {"$ne": None}))).ret == Ret.INVALID
    assert (await refusal(flow.confirm(user.id, True))).ret == Ret.INVALID
    assert (await refusal(flow.confirm(user.id, "12a456"))).ret == Ret.CODE_INVALID
    assert await store.collection(deletion_codes.TRIES).count({}) == 0

    outcomes = await asyncio.gather(
        *(flow.confirm(user.id, wrong) for _ in range(MAX_TRIES + 3)), return_exceptions=True
    )
    reasons = sorted(str(outcome) for outcome in outcomes)
    assert all(isinstance(outcome, ApiError) and outcome.ret == Ret.CODE_INVALID for outcome in outcomes)
    assert sum("wrong" in reason and "too many" not in reason for reason in reasons) == MAX_TRIES
    assert sum("too many" in reason for reason in reasons) == 3
    # The code is dead: even the right one is refused now, and nothing changed.
    assert "too many" in str(await refusal(flow.confirm(user.id, code)))
    assert users.status_of(await find_user(store, user.id)) == users.ACTIVE

    # A new code replaces it; as a JSON number it confirms too (leading zeros restored).
    await flow.send_code(user.id)
    code = bus.mails()[-1].code
    assert "no valid" not in str(await refusal(flow.confirm(user.id, wrong)))
    await flow.confirm(user.id, int(code))
    assert users.status_of(await find_user(store, user.id)) == users.DELETING
    assert (await keys.get_by_value(store, user.key)).owner_status == "deleted"  # type: ignore[union-attr]
    assert await tokens.get_by_token(store, token) is None
    assert user.id in bus.announced()
    # Used once: the same code again finds nothing to confirm, and no new code is sent to a closed account.
    assert (await refusal(flow.confirm(user.id, code))).ret == Ret.CODE_INVALID
    assert (await refusal(flow.send_code(user.id))).ret == Ret.WRONG_STATE


async def test_disable_enable_and_the_states_they_refuse(store: Store) -> None:
    user = await accounts.create_user(store, "state@example.com")
    now = now_ms()
    await tokens.insert(store, token="s" * 32, user_id=user.id, created_at=now, expires_at=now + 60_000)
    await login_codes.insert(store, code="abcdef", user_id=user.id, expires_at=now + 60_000)
    bus = RecordingBus()
    as_bus = cast(Bus, bus)

    assert (await find_user(store, "STATE@example.com "))["_id"] == user.id
    assert (await find_user(store, user.id))["email"] == "state@example.com"
    for unknown in ("nobody@example.com", "0" * 24, "not-an-address"):
        assert (await refusal(find_user(store, unknown))).ret == Ret.NOT_FOUND

    assert await disable(store, as_bus, await find_user(store, user.id)) is True
    assert users.status_of(await find_user(store, user.id)) == users.DISABLED
    assert (await keys.get_by_value(store, user.key)).owner_status == "disabled"  # type: ignore[union-attr]
    assert await tokens.get_by_token(store, "s" * 32) is None
    assert await store.collection(login_codes.COLLECTION).count({"userId": user.id}) == 0
    assert await disable(store, as_bus, await find_user(store, user.id)) is False

    assert await enable(store, as_bus, await find_user(store, user.id)) is True
    restored = await find_user(store, user.id)
    assert users.status_of(restored) == users.ACTIVE and "status" not in restored
    assert (await keys.get_by_value(store, user.key)).owner_status == "active"  # type: ignore[union-attr]
    assert await enable(store, as_bus, restored) is False
    assert bus.announced() == [user.id] * 4

    await mark_deleting(store, as_bus, restored)
    closing = await find_user(store, user.id)
    assert (await refusal(disable(store, as_bus, closing))).ret == Ret.WRONG_STATE
    assert (await refusal(enable(store, as_bus, closing))).ret == Ret.WRONG_STATE


async def seed_account(store: Store, email: str, *, messages_count: int) -> dict[str, Any]:
    """A user with something in every collection the purge empties."""
    user = await accounts.create_user(store, email)
    now = now_ms()
    temporary = new_id()
    await keys.insert_temporary(
        store,
        value=temporary,
        user_id=user.id,
        name="ci",
        link_id=new_id(),
        created_at=now,
        expires_at=now + 1,
    )
    for n in range(messages_count):
        message_id = new_id()
        await store.collection(messages.COLLECTION).insert_one(
            {
                "_id": message_id,
                "senderId": user.id,
                "keyKind": "fixed",
                "app": "iGot",
                "createdAt": now + n,
                "body": {"title": "", "content": f"m{n}", "url": "", "automaticallyCopy": 1, "copyText": ""},
            }
        )
        entry = inbox.new_entry(
            entry_id=message_id,
            user_id=user.id,
            message_id=message_id,
            created_at=now + n,
            stored_at=now,
            status="delivered",
        )
        await inbox.insert_if_absent(store, entry)
        await deliveries.begin(
            store,
            entry_id=message_id,
            message_id=message_id,
            user_id=user.id,
            way="email",
            request_id=new_id(),
            now=now,
        )
        await store.collection(outbox.COLLECTION).insert_one(
            {"_id": message_id, "createdAt": now, "event": {}}
        )
    await push_ways.bind(store, user.id, "email", {"key": email, "unsubscribe": "u" + user.id})
    await tokens.insert(
        store, token="tok-" + user.id, user_id=user.id, created_at=now, expires_at=now + 60_000
    )
    await login_codes.insert(store, code="code-" + user.id, user_id=user.id, expires_at=now + 60_000)
    await verifications.insert(
        store,
        token="v-" + user.id,
        user_id=user.id,
        way="email",
        key=email,
        created_at=now,
        expires_at=now + 1,
    )
    await verifications.record_send(store, user_id=user.id, way="email", at_ms=now)
    code_id = await deletion_codes.insert(
        store, user_id=user.id, code="123456", created_at=now, expires_at=now
    )
    await store.collection(deletion_codes.TRIES).insert_one(
        {"_id": f"{code_id}-0", "userId": user.id, "codeId": code_id, "at": now}
    )
    await store.collection(signin_codes.COLLECTION).insert_one(
        {"_id": new_id(), "email": email, "createdAt": now}
    )
    # A group link with a topic and a subscriber (the account itself), and a subscription of its own.
    link_id = "link-" + user.id
    await group_links.insert(
        store, key=new_id(), user_id=user.id, name="news", link_id=link_id, open=True, created_at=now
    )
    await group_links.ensure_topic(store, link_id, "weather", now=now)
    await subscriptions.subscribe(store, link_id, user.id, strong=True, topics=[], now=now)
    # A complaint the account made about someone else's link.
    other_link = "other-link-" + user.id
    await complaints.insert_if_absent(
        store,
        complaints.Complaint(
            message_id=new_id(),
            user_id=user.id,
            sender_ref=complaints.group_sender_ref(other_link),
            key_kind="group",
            sender_id=new_id(),
            link_id=other_link,
            reason="spam",
            created_at=now,
        ),
    )
    await complaints.note_complainer(store, complaints.group_sender_ref(other_link), user.id, now=now)
    return {"id": user.id, "email": email}


async def traces(store: Store, user_id: str, email: str) -> dict[str, int]:
    """How many documents of the account each collection holds."""
    of_user = {"userId": user_id}
    counted = {
        name: await store.collection(name).count(of_user)
        for name in (
            inbox.COLLECTION,
            deliveries.COLLECTION,
            keys.COLLECTION,
            tokens.COLLECTION,
            login_codes.COLLECTION,
            verifications.COLLECTION,
            verifications.SENDS,
            deletion_codes.COLLECTION,
            deletion_codes.TRIES,
            complaints.COLLECTION,
            complaints.COMPLAINERS,
        )
    }
    counted["messages"] = await store.collection(messages.COLLECTION).count({"senderId": user_id})
    sent = [doc["_id"] for doc in await store.collection(messages.COLLECTION).find({"senderId": user_id})]
    counted["outbox"] = await store.collection(outbox.COLLECTION).count({"_id": {"$in": sent or ["-"]}})
    counted["push_ways"] = await store.collection(push_ways.COLLECTION).count({"_id": user_id})
    counted["signin_codes"] = await store.collection(signin_codes.COLLECTION).count({"email": email})
    counted["users"] = await store.collection(users.COLLECTION).count({"_id": user_id})
    counted["subscriptions"] = await store.collection(subscriptions.COLLECTION).count(of_user)
    link = {"linkId": "link-" + user_id}
    counted["link subscribers"] = await store.collection(subscriptions.COLLECTION).count(link)
    counted["link topics"] = await store.collection(group_links.TOPICS).count(link)
    return counted


async def test_the_purge_removes_the_account_and_nothing_else_and_resumes(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(purge, "BATCH", 2)  # several batches per collection
    gone = await seed_account(store, "gone@example.com", messages_count=5)
    kept = await seed_account(store, "kept@example.com", messages_count=3)
    kept_before = await traces(store, kept["id"], kept["email"])
    assert all(kept_before.values()), kept_before
    bus = cast(Bus, RecordingBus())
    await mark_deleting(store, bus, await find_user(store, gone["id"]))

    # Not yet due within the grace period.
    assert await purge.AccountPurge(store, interval_seconds=60, grace_seconds=3600).purge_once() == 0
    assert (await traces(store, gone["id"], gone["email"]))["users"] == 1

    # A crash half-way (here: the outbox cannot be written) leaves the account for the next run.
    real_delete = outbox.delete_many
    monkeypatch.setattr(outbox, "delete_many", _failing)
    with pytest.raises(RuntimeError):
        await purge.AccountPurge(store, interval_seconds=60, grace_seconds=0).purge_once()
    half = await traces(store, gone["id"], gone["email"])
    assert half["inbox"] == 0 and half["users"] == 1 and half["messages"] == 5
    monkeypatch.setattr(outbox, "delete_many", real_delete)

    assert await purge.AccountPurge(store, interval_seconds=60, grace_seconds=0).purge_once() == 1
    assert set((await traces(store, gone["id"], gone["email"])).values()) == {0}
    assert await traces(store, kept["id"], kept["email"]) == kept_before
    # Nothing left to do; and the address can sign up again.
    assert await purge.AccountPurge(store, interval_seconds=60, grace_seconds=0).purge_once() == 0
    again = await accounts.create_user(store, "gone@example.com")
    assert again.id != gone["id"]


async def _failing(store: Store, message_ids: list[str]) -> int:
    raise RuntimeError("store went away")


async def test_the_export_pages_the_inbox_newest_first_and_holds_no_secret(store: Store) -> None:
    user = await accounts.create_user(store, "export@example.com")
    now = now_ms()
    created = [now, now, now, now - 5, now - 5, now - 9, now + 3]  # ties in time are paged by id
    for n, at in enumerate(created):
        message_id = new_id()
        await store.collection(messages.COLLECTION).insert_one(
            {
                "_id": message_id,
                "senderId": user.id,
                "keyKind": "fixed",
                "app": "iGot",
                "createdAt": at,
                "body": {"title": "t", "content": f"m{n}", "url": "", "automaticallyCopy": 1, "copyText": ""},
            }
        )
        entry = inbox.new_entry(
            entry_id=new_id() if n % 2 else message_id,
            user_id=user.id,
            message_id=message_id,
            created_at=at,
            stored_at=at,
            status="delivered",
        )
        await inbox.insert_if_absent(store, entry)
    entries = await store.collection(inbox.COLLECTION).find({"userId": user.id})
    expected = [e["_id"] for e in sorted(entries, key=lambda e: (e["createdAt"], e["_id"]), reverse=True)]
    pages = [page async for page in account_export.inbox_pages(store, user.id, page_size=3)]
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [shown["id"] for page in pages for shown in page] == expected

    token = "x" * 32
    await tokens.insert(
        store, token=token, user_id=user.id, created_at=now, expires_at=now + 60_000, client="cli"
    )
    await push_ways.bind(store, user.id, "webhook", {"key": "https://hook.example.com", "secret": "s3cret"})
    written = bytearray()

    async def write(chunk: bytes) -> None:
        written.extend(chunk)

    doc = await store.collection(users.COLLECTION).find_one({"_id": user.id})
    assert doc is not None
    assert await account_export.write_export(store, doc, write) == len(created)
    exported = json.loads(written)
    assert (exported["ret"], exported["errMsg"]) == (0, "success")
    data = exported["data"]
    assert data["account"]["email"] == "export@example.com" and data["account"]["key"] == user.key
    assert [shown["id"] for shown in data["messages"]] == expected
    assert data["pushWays"]["webhook"] == {"key": "https://hook.example.com", "status": 1}
    (session,) = data["sessions"]
    assert session["client"] == "cli" and session["id"]
    for secret in (hashlib.sha256(token.encode()).hexdigest(), token, "s3cret"):
        assert secret not in written.decode()
