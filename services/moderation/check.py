"""The content check of one message: the lexicon, then the remote provider if one is configured.

What is checked is what a receiver reads: the title, the content, the text a client copies and the
topic. The link's address (`url`) is not: its words are ids and paths, where a lexicon word matches by
accident far more often than on purpose, and the page behind it is out of reach anyway.

1. The lexicon (`LexiconHolder.current`): any hit rejects, with the category of the first hit; the hits
   are kept (word, category, field and offsets into that field, up to `MAX_HITS_KEPT`).
2. No hit and a remote provider configured: its `risky` rejects (our category for its label), `review`
   holds the message for an operator, `pass` passes.
3. The provider cannot answer (`RemoteCheckUnavailable`, or any failure of it): the configured policy
   decides. `hold` raises `UnavailableError`, so the bus keeps the message and tries again later,
   without ever parking it; `pass` lets the lexicon's verdict stand; `reject` rejects it as `unchecked`.

The same message checked twice with the same lexicon and provider answers gets the same outcome, so a
redelivered check changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from services.moderation.lexicon_holder import LexiconHolder
from services.moderation.remote import RemoteChecker, RemoteCheckUnavailable, RemoteVerdict
from shared.failures import UnavailableError
from shared.logs import get_logger

log = get_logger("igot.moderation.check")

Verdict = Literal["pass", "reject", "review"]
CheckedBy = Literal["lexicon", "remote", "policy"]  # an operator's decisions are recorded as `operator`
DownPolicy = Literal["hold", "pass", "reject"]

# The body fields a receiver reads, in the order they are scanned.
CHECKED_FIELDS = ("title", "content", "copyText")
MAX_HITS_KEPT = 20
UNCHECKED = "unchecked"  # the category of a message rejected because the provider could not check it


@dataclass(frozen=True)
class FieldHit:
    """A lexicon word found in one field of the message; `start`/`end` index that field's text."""

    field: str
    word: str
    category: str
    start: int
    end: int

    def as_document(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "word": self.word,
            "category": self.category,
            "start": self.start,
            "end": self.end,
        }


@dataclass(frozen=True)
class CheckOutcome:
    verdict: Verdict
    by: CheckedBy
    category: str | None = None
    hits: tuple[FieldHit, ...] = ()
    remote: RemoteVerdict | None = None
    remote_unavailable: bool = False  # the provider was down and the policy decided

    @property
    def reason(self) -> str:
        """One line for an operator, e.g. `remote: review (politics)`."""
        return f"{self.by}: {self.verdict}" + (f" ({self.category})" if self.category else "")

    def as_document(self, *, checked_at: int) -> dict[str, Any]:
        """The `moderation` record stored on the message (`shared.data.messages`)."""
        record: dict[str, Any] = {"verdict": self.verdict, "by": self.by, "checkedAt": checked_at}
        if self.category is not None:
            record["category"] = self.category
        if self.hits:
            record["hits"] = [hit.as_document() for hit in self.hits]
        if self.remote is not None:
            record["remote"] = self.remote.as_document()
        if self.remote_unavailable:
            record["remoteUnavailable"] = True
        return record


def field_texts(message: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The checked fields of a stored message that hold text, with `topic` after the body's."""
    body = message.get("body") or {}
    texts = [(name, body.get(name)) for name in CHECKED_FIELDS]
    texts.append(("topic", message.get("topic")))
    return [(name, text) for name, text in texts if isinstance(text, str) and text]


class ContentCheck:
    def __init__(
        self,
        lexicon: LexiconHolder,
        remote: RemoteChecker | None = None,
        *,
        down_policy: DownPolicy = "hold",
    ) -> None:
        self._lexicon = lexicon
        self._remote = remote
        self._down_policy = down_policy

    async def check(self, message: Mapping[str, Any]) -> CheckOutcome:
        """The outcome for a stored message; raises `UnavailableError` to hold it (policy `hold`)."""
        hits = self.lexicon_hits(message)
        if hits:
            return CheckOutcome("reject", "lexicon", category=hits[0].category, hits=hits)
        if self._remote is None:
            return CheckOutcome("pass", "lexicon")
        try:
            answer = await self._remote.check(_remote_text(message), title=_title(message))
        except RemoteCheckUnavailable as error:
            return self._when_down(self._remote.name, str(error))
        except Exception as error:  # a provider's surprise must not decide anything but the policy
            log.exception("remote checker failed unexpectedly", provider=self._remote.name)
            return self._when_down(self._remote.name, f"{type(error).__name__}: {error}")
        if answer.suggest == "risky":
            return CheckOutcome("reject", "remote", category=answer.category, remote=answer)
        if answer.suggest == "review":
            return CheckOutcome("review", "remote", category=answer.category, remote=answer)
        return CheckOutcome("pass", "remote", remote=answer)

    def lexicon_hits(self, message: Mapping[str, Any]) -> tuple[FieldHit, ...]:
        lexicon = self._lexicon.current  # one lexicon for the whole message, even if a reload lands now
        found: list[FieldHit] = []
        for name, text in field_texts(message):
            for hit in lexicon.scan(text):
                found.append(FieldHit(name, hit.word, hit.category, hit.start, hit.end))
                if len(found) == MAX_HITS_KEPT:
                    return tuple(found)
        return tuple(found)

    def _when_down(self, provider: str, error: str) -> CheckOutcome:
        if self._down_policy == "pass":
            log.warning("remote checker unavailable: the lexicon's verdict stands", error=error)
            return CheckOutcome("pass", "lexicon", remote_unavailable=True)
        if self._down_policy == "reject":
            log.warning("remote checker unavailable: rejected as unchecked", error=error)
            return CheckOutcome("reject", "policy", category=UNCHECKED, remote_unavailable=True)
        raise UnavailableError(f"remote checker {provider} unavailable, message held: {error}")


def _title(message: Mapping[str, Any]) -> str | None:
    title = (message.get("body") or {}).get("title")
    return title if isinstance(title, str) and title else None


def _remote_text(message: Mapping[str, Any]) -> str:
    """The content, with the copied text when it says something else, and the topic."""
    texts = dict(field_texts(message))
    parts = [texts.get("content", "")]
    if texts.get("copyText") and texts["copyText"] != parts[0]:
        parts.append(texts["copyText"])
    if texts.get("topic"):
        parts.append(texts["topic"])
    return "\n".join(part for part in parts if part)
