"""The dispatcher's consumers on a real bus and store, in the test's process, with a webhook receiver,
a Bark server and an SMTP server of their own (every channel's consumer runs).

The bus is the in-process bus on an SQLite file; the data store is that file or, where several
processes' races matter, the MongoDB-compatible server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from services.dispatcher.channels import open_channels
from services.dispatcher.consumers import deliver
from services.dispatcher.consumers.accepted import AcceptedHandler
from services.dispatcher.consumers.deliver import DeliverHandler
from services.dispatcher.consumers.escalation import EscalationHandler
from shared.bus.inprocess import InProcessBus
from shared.data import deliveries, inbox, messages, push_ways
from shared.ids import new_id, now_ms
from shared.messages.push import MessageAcceptedV2
from shared.metrics import Metrics
from shared.settings import Settings
from shared.store import Document, Store
from shared.store.mongo import MongoStore
from shared.store.sqlite import SqliteStore
from tests.fakes.bark_server import BarkServer
from tests.fakes.smtp_server import SmtpServer
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.integration.processes import drop_database

SECRET = "s3cret"
DELAYS = (0.05, 0.1)  # three tries per way


@dataclass
class DispatcherRig:
    store: Store
    bus: InProcessBus
    accepted: AcceptedHandler
    webhook: DeliverHandler
    receiver: WebhookReceiver
    handlers: dict[str, DeliverHandler]
    bark: BarkServer
    smtp: SmtpServer
    metrics: Metrics

    async def seed_user(self, *, webhook_status: int = push_ways.VERIFIED) -> str:
        user_id = new_id()
        await self.store.collection(push_ways.COLLECTION).insert_one(
            {
                "_id": user_id,
                "orders": ["bark", "webhook", "email"],
                "bark": {"key": "", "status": push_ways.UNBOUND},
                "webhook": {"key": self.receiver.url, "secret": SECRET, "status": webhook_status},
            }
        )
        return user_id

    async def seed_ways(self, orders: list[str], **ways: dict[str, Any]) -> str:
        """A user with these push ways (`bark={"key": ..., "status": ...}`, ...) in this order."""
        user_id = new_id()
        await self.store.collection(push_ways.COLLECTION).insert_one(
            {"_id": user_id, "orders": orders, **ways}
        )
        return user_id

    async def accepted_event(self, user_id: str, *, content: str = "hello", strong: bool = True) -> Any:
        message_id = new_id()
        created_at = now_ms()
        await messages.insert(
            self.store,
            {
                "_id": message_id,
                "senderId": user_id,
                "keyKind": "fixed",
                "app": "iGot",
                "body": {"title": "t", "content": content, "url": "", "automaticallyCopy": 1, "copyText": ""},
                "createdAt": created_at,
            },
        )
        return MessageAcceptedV2(message_id=message_id, user_id=user_id, strong=strong, created_at=created_at)

    async def entry(self, entry_id: str) -> Document | None:
        return await inbox.get_by_id(self.store, entry_id)

    async def record(self, entry_id: str, way: str = "webhook") -> Document | None:
        return await deliveries.get_by_id(self.store, deliveries.record_id(entry_id, way))

    async def settled(self, entry_id: str) -> bool:
        """The entry and every delivery record of it have their final status (a fallback writes the
        entry's before the failed way's record)."""
        entry = await self.entry(entry_id)
        if entry is None or entry["status"] not in ("delivered", "failed"):
            return False
        records = await deliveries.list_for_entry(self.store, entry_id)
        return all(record["status"] in deliveries.FINAL for record in records)


@asynccontextmanager
async def dispatcher_rig(
    workdir: Path, store: Store | None = None, *, escalation_minute_seconds: float = 60.0
) -> AsyncIterator[DispatcherRig]:
    """Consumers subscribed on the bus (read escalation checks too, one escalation minute lasting
    `escalation_minute_seconds`); `store` defaults to the bus's own SQLite file."""
    sqlite = SqliteStore(workdir / "bus.sqlite3")
    data = store or sqlite
    metrics = Metrics()
    bus = InProcessBus(sqlite, prefetch=8, retry_delays=DELAYS, metrics=metrics, poll_interval=0.1)
    receiver = WebhookReceiver(SECRET)
    await receiver.start()
    bark = BarkServer()
    await bark.start()
    smtp = SmtpServer()
    smtp.start()
    settings = Settings(
        bark_server=bark.url,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_from="iGot <push@igot.example.com>",
        smtp_tls="none",
        public_url="https://igot.example.com",
    )
    await bus.start()
    try:
        async with aiohttp.ClientSession() as session:
            try:
                channels = open_channels(session, settings)
                consumers = deliver.consumers(
                    data,
                    bus,
                    metrics,
                    channels,
                    delays=DELAYS,
                    escalation_minute_seconds=escalation_minute_seconds,
                )
                handlers = dict(zip(channels, consumers, strict=True))
                accepted = AcceptedHandler(data, bus, metrics)
                for handler in handlers.values():
                    await bus.subscribe(handler.subscription())
                await bus.subscribe(accepted.subscription())
                await bus.subscribe(EscalationHandler(data, bus).subscription())
                yield DispatcherRig(
                    data, bus, accepted, handlers["webhook"], receiver, handlers, bark, smtp, metrics
                )
            finally:
                await bus.stop()  # handlers finish while the session is open
    finally:
        bark.release()
        await bark.stop()
        smtp.stop()
        await receiver.stop()
        await sqlite.close()
        if store is not None:
            await store.close()


@asynccontextmanager
async def rig_on(
    kind: str, workdir: Path, mongo_url: str, namespace: str, *, escalation_minute_seconds: float = 60.0
) -> AsyncIterator[DispatcherRig]:
    """The rig with its data on `kind`: "sqlite" (the bus's own file) or "mongo" (a fresh database)."""
    store = MongoStore(mongo_url, namespace) if kind == "mongo" else None
    try:
        async with dispatcher_rig(
            workdir, store, escalation_minute_seconds=escalation_minute_seconds
        ) as running:
            yield running
    finally:
        if store is not None:
            drop_database(mongo_url, namespace)
