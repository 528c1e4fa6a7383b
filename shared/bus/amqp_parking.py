"""Listing and replaying a RabbitMQ parking queue (`<exchange>.<queue>.parked`), on a channel of its own.

Listing takes messages unacknowledged and hands them back, so they stay parked in their order. Replaying
publishes each one back to its queue (confirmed) before acknowledging it, so a crash in between can
duplicate a message but never lose it.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Mapping

from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from aio_pika.exceptions import ChannelNotFoundEntity

from shared.bus.handling import clean_headers, replay_headers
from shared.bus.port import ROUTING_KEY_HEADER, ParkedMessage, PublishError

_REPLAY_EMPTY_ANSWERS = 40  # times the pause: up to 2 s for requeued messages to reappear
_REPLAY_EMPTY_PAUSE = 0.05

Send = Callable[[bytes, Mapping[str, str], str | None], Awaitable[None]]


async def _parking_queue(channel: AbstractChannel, name: str) -> AbstractQueue | None:
    try:
        return await channel.declare_queue(name, passive=True)
    except ChannelNotFoundEntity:
        return None


def _parked_message(queue: str, message: AbstractIncomingMessage) -> ParkedMessage:
    headers = clean_headers(message.headers)
    routing_key = headers.get(ROUTING_KEY_HEADER) or message.routing_key or ""
    return ParkedMessage(queue, routing_key, message.body, headers)


async def list_parked(
    channel: AbstractChannel, queue: str, parking_name: str, limit: int, timeout: float
) -> list[ParkedMessage]:
    parking = await _parking_queue(channel, parking_name)
    if parking is None:
        return []
    result: list[ParkedMessage] = []
    taken: list[AbstractIncomingMessage] = []
    try:
        while len(taken) < limit:
            message = await parking.get(no_ack=False, fail=False, timeout=timeout)
            if message is None:
                break
            taken.append(message)
            result.append(_parked_message(queue, message))
    finally:
        # Unacknowledged, they go back to the parking queue in their order. `nack`: RabbitMQ 4.3
        # counts only `reject` towards a quorum queue's delivery limit.
        for message in taken:
            await message.nack(requeue=True)
    return result


async def replay_parked(
    channel: AbstractChannel, parking_name: str, send: Send, limit: int | None, timeout: float
) -> int:
    parking = await _parking_queue(channel, parking_name)
    if parking is None:
        return 0
    # A message that fails again while replaying comes back with the same id: it stops the loop and
    # waits for the next replay. An empty answer is asked again for a moment, because messages a
    # listing just returned may still be on their way back into a quorum queue.
    count = 0
    replayed: set[str] = set()
    empty_answers = 0
    while limit is None or count < limit:
        message = await parking.get(no_ack=False, fail=False, timeout=timeout)
        if message is None:
            empty_answers += 1
            if empty_answers > _REPLAY_EMPTY_ANSWERS:
                break
            await asyncio.sleep(_REPLAY_EMPTY_PAUSE)
            continue
        identity = message.message_id or hashlib.sha256(message.body).hexdigest()
        if identity in replayed:
            await message.nack(requeue=True)
            break
        headers = replay_headers(clean_headers(message.headers))
        try:
            await send(message.body, headers, message.message_id)
        except PublishError:
            await message.nack(requeue=True)
            raise
        await message.ack()
        replayed.add(identity)
        count += 1
    return count
