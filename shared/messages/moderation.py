"""Bus messages of the moderation family.

`ModerationReloadV1` is a broadcast: an operator (`igot moderation reload`) tells every running moderation
process to read its lexicon file again at once, rather than at its next look at the file. Nobody
listening is not an error: a process that starts later reads the file anyway.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from shared.messages.base import BusMessage


class ModerationReloadV1(BusMessage):
    """Read the lexicon again (`IGOT_MODERATION_LEXICON`, or the shipped list when unset)."""

    BROADCAST: ClassVar[bool] = True

    type: Literal["moderation.reload"] = "moderation.reload"
    version: Literal[1] = 1

    requested_by: str = ""  # who asked (an operator's name), for the logs
