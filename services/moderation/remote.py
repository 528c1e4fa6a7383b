"""Moderation's optional remote check: a content-security provider asked after the local lexicon.

Providers sit behind one small interface (`RemoteChecker`) so that another can be added beside the
first (`remote_wechat`, WeChat's msgSecCheck). A check answers a `RemoteVerdict`: the provider's
suggestion (`pass`, `review`, `risky`), its numeric label and our word for that label. When the provider
cannot give one (a timeout, a refused connection, a 5xx, an error of the provider's, an answer that is
not one, settings the provider refuses) the check raises `RemoteCheckUnavailable`, and the caller applies
`IGOT_MODERATION_REMOTE_DOWN_POLICY`: a failed check never passes a message by itself.

A text longer than a provider takes in one request is checked in consecutive pieces (`text_pieces`);
the worst verdict of the pieces is the text's (`worst`: risky > review > pass).

`remote_checker_from_settings` builds the checker `IGOT_MODERATION_REMOTE` names, or None when it is
empty (the default).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol, assert_never

from shared.settings import Settings
from shared.store import Store

Suggest = Literal["pass", "review", "risky"]
SUGGESTS: tuple[Suggest, ...] = ("pass", "review", "risky")  # from mild to severe


@dataclass(frozen=True)
class RemoteVerdict:
    suggest: Suggest
    label: int  # the provider's own number for what it found (WeChat: 100 is normal)
    category: str  # our word for the label: "normal", "ads", "politics", …, "other" for unknown labels
    provider: str  # the checker's name, e.g. "wechat"

    @property
    def severity(self) -> int:
        return SUGGESTS.index(self.suggest)

    def as_document(self) -> dict[str, str | int]:
        """As recorded on the message and its review."""
        return {
            "provider": self.provider,
            "suggest": self.suggest,
            "label": self.label,
            "category": self.category,
        }


class RemoteCheckUnavailable(Exception):
    """The provider gave no verdict; the caller applies its "provider down" policy."""

    def __init__(self, provider: str, reason: str) -> None:
        super().__init__(f"the {provider} content check is unavailable: {reason}")
        self.provider = provider
        self.reason = reason


class RemoteCheckerConfigError(ValueError):
    """The settings name a remote checker that cannot work as configured (raised at start)."""


class RemoteChecker(Protocol):
    name: str

    async def check(self, text: str, *, title: str | None = None) -> RemoteVerdict:
        """The provider's verdict on `text` (and `title`); `RemoteCheckUnavailable` when it has none."""
        ...

    async def close(self) -> None:
        """Let go of connections; a later `check` opens them again."""
        ...


def worst(verdicts: Iterable[RemoteVerdict]) -> RemoteVerdict:
    """The most severe verdict; of equally severe ones the first (the earliest piece of a text)."""
    found: RemoteVerdict | None = None
    for verdict in verdicts:
        if found is None or verdict.severity > found.severity:
            found = verdict
    if found is None:
        raise ValueError("no verdicts to choose from")
    return found


def utf16_length(text: str) -> int:
    """Characters as a UTF-16 counter counts them: one outside the Basic Multilingual Plane (most emoji)
    counts twice. Providers differ in how they count a limit; this way is never under either count."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def text_pieces(text: str, *, limit: int, overlap: int) -> list[str]:
    """`text` in consecutive pieces of at most `limit` characters (counted as UTF-16 does), each after the
    first beginning `overlap` characters before the previous one ended, so that a phrase of up to
    `overlap` characters cut by one boundary is still whole in a piece. An empty text has no pieces."""
    if not 0 <= overlap < limit // 2:
        raise ValueError(f"the overlap must be under half the limit (limit {limit}, overlap {overlap})")
    pieces: list[str] = []
    start = 0
    while start < len(text):
        end, units = start, 0
        while end < len(text):
            width = 2 if ord(text[end]) > 0xFFFF else 1
            if units + width > limit:
                break
            units += width
            end += 1
        pieces.append(text[start:end])
        if end >= len(text):
            break
        start = end - overlap
    return pieces


def remote_checker_from_settings(settings: Settings, *, store: Store) -> RemoteChecker | None:
    """The checker `IGOT_MODERATION_REMOTE` names, or None when it is empty; `RemoteCheckerConfigError`
    when the provider's settings are incomplete. `store` keeps the provider's access token, shared by
    every process of the deployment. Nothing is connected until the first check."""
    provider = settings.moderation_remote
    if provider == "":
        return None
    if provider == "wechat":
        # Imported here: only the chosen provider's adapter is loaded.
        from services.moderation.remote_wechat import wechat_checker_from_settings

        return wechat_checker_from_settings(settings, store=store)
    assert_never(provider)
