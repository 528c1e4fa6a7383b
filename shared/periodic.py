"""A background task that runs one step every few seconds until it is stopped."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from shared.logs import get_logger
from shared.store import StoreError

log = get_logger("igot.periodic")


class Periodic:
    """Calls `step` every `interval_seconds`; a failing step is logged and the next one runs on time.

    A step that returns a count of work done is reported as `report` when it did any.
    """

    def __init__(
        self,
        name: str,
        step: Callable[[], Awaitable[int | None]],
        *,
        interval_seconds: float,
        report: str | None = None,
    ) -> None:
        self.name = name
        self._step = step
        self._interval = interval_seconds
        self._report = report
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                done = await self._step()
            except StoreError as error:
                log.warning("periodic step cannot use the store now", task=self.name, error=str(error))
            except Exception:
                log.exception("periodic step failed", task=self.name)
            else:
                if done and self._report:
                    log.info(self._report, count=done)
            await asyncio.sleep(self._interval)
