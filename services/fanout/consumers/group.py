"""`fanout.group`: a group link's push once moderation approved it, then each page of its expansion
(`services.fanout.expansion`)."""

from __future__ import annotations

import structlog

from services.fanout.expansion import Expansion
from shared.bus import Subscription
from shared.failures import UnavailableError
from shared.messages.group import FanoutPageV1, GroupMessageApprovedV1
from shared.store import StoreUnavailableError
from shared.topology import FANOUT_GROUP


class GroupPushHandler:
    def __init__(self, expansion: Expansion) -> None:
        self._expansion = expansion

    def subscription(self) -> Subscription:
        return Subscription(queue=FANOUT_GROUP.name, models=FANOUT_GROUP.models, handler=self.handle)

    async def handle(self, job: GroupMessageApprovedV1 | FanoutPageV1) -> None:
        structlog.contextvars.bind_contextvars(message_id=job.message_id, link_id=job.link_id)
        try:
            await self._expansion.expand(job)
        except StoreUnavailableError as error:
            raise UnavailableError(f"store unavailable: {error}") from error
