"""The lexicon in force in this process, and how it follows the operator's file without a restart.

The lexicon comes from `IGOT_MODERATION_LEXICON` (a file, one `word<TAB>category` a line), or from the
list that ships with iGot when that is empty. It is read again:

* when the file changes: its modification time and size are looked at every
  `IGOT_MODERATION_LEXICON_POLL_SECONDS` (a ConfigMap update or an editor's save both change them);
* at once when an operator says so (`igot moderation reload`), by a `ModerationReloadV1` broadcast that
  every moderation process hears.

A new lexicon is built off the event loop and then swapped in whole: a check under way keeps the lexicon
it started with, the next one uses the new, and no message waits for a reload or is lost by one. A file
that cannot be read or parsed keeps the previous lexicon in force (logged as an error); at start there is
no previous one, so a configured file that cannot be loaded stops the process with the reason, rather than
checking against a list the operator did not choose.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

from services.moderation.lexicon import Lexicon, LexiconError
from shared.bus import Subscription
from shared.logs import get_logger
from shared.messages.moderation import ModerationReloadV1
from shared.periodic import Periodic

log = get_logger("igot.moderation.lexicon")

RELOAD_LISTENER = "moderation.lexicon-reload"


class LexiconLoadError(Exception):
    """The configured lexicon file cannot be loaded at start."""


@dataclass(frozen=True)
class FileStamp:
    """What tells that the file changed, without reading it."""

    modified_ns: int
    size: int


def _stamp(path: Path) -> FileStamp | None:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return FileStamp(modified_ns=found.st_mtime_ns, size=found.st_size)


class LexiconHolder:
    """Holds the lexicon in force; `current` is what a check uses."""

    def __init__(self, path: str | Path | None, *, poll_seconds: float = 5.0) -> None:
        self._path = Path(path) if path else None
        self._lexicon: Lexicon | None = None
        self._stamp: FileStamp | None = None
        self._lock = asyncio.Lock()  # one load at a time: a poll and a broadcast may ask together
        self._poller = Periodic("moderation-lexicon-poll", self.poll_once, interval_seconds=poll_seconds)

    @property
    def source(self) -> str:
        return str(self._path) if self._path is not None else "the shipped list"

    @property
    def current(self) -> Lexicon:
        if self._lexicon is None:
            raise RuntimeError("the lexicon is not loaded yet: call `load` first")
        return self._lexicon

    async def load(self) -> Lexicon:
        """The first load, at start; raises `LexiconLoadError` when the configured file cannot be used."""
        try:
            await self._reload(forced=True, first=True)
        except (LexiconError, OSError) as error:
            raise LexiconLoadError(f"moderation lexicon {self.source} cannot be loaded: {error}") from error
        return self.current

    def start(self) -> None:
        """Look at the file every few seconds (nothing to look at for the shipped list)."""
        if self._path is not None:
            self._poller.start()

    async def stop(self) -> None:
        await self._poller.stop()

    async def poll_once(self) -> int:
        """Reload when the file's stamp changed; 1 when a new lexicon came into force, else 0."""
        if self._path is None or _stamp(self._path) == self._stamp:
            return 0
        return await self.reload(forced=False)

    async def reload(self, *, forced: bool = True) -> int:
        """Read the lexicon again (`forced`: even when the file looks unchanged); 1 when a new one came
        into force. A failure keeps the one in force and is logged, never raised."""
        try:
            return await self._reload(forced=forced, first=False)
        except (LexiconError, OSError) as error:
            log.error(
                "moderation lexicon not reloaded: the previous one stays in force",
                source=self.source,
                error=str(error),
            )
            return 0

    async def _reload(self, *, forced: bool, first: bool) -> int:
        async with self._lock:
            stamp = _stamp(self._path) if self._path is not None else None
            if not forced and stamp == self._stamp:
                return 0  # another reload read this version meanwhile
            path = self._path
            # Building the automaton of a large list takes a while: not on the event loop.
            lexicon = await asyncio.to_thread(Lexicon.default if path is None else lambda: Lexicon.load(path))
            previous = self._lexicon
            self._lexicon, self._stamp = lexicon, stamp
        log.info(
            "moderation lexicon loaded" if first else "moderation lexicon reloaded",
            source=self.source,
            words=lexicon.size,
            categories=sorted(lexicon.categories),
            previous_words=previous.size if previous is not None else None,
        )
        return 1

    def subscription(self) -> Subscription:
        """The broadcast subscription by which an operator's reload reaches this process."""

        async def on_reload(command: ModerationReloadV1) -> None:
            log.info("moderation lexicon reload requested", requested_by=command.requested_by or None)
            await self.reload(forced=True)

        return Subscription(
            queue=RELOAD_LISTENER, models=[ModerationReloadV1], handler=on_reload, broadcast=True
        )
