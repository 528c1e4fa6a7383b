"""The content check's verdicts, and the lexicon in force following its file, without a bus or a store.

A lexicon hit rejects with the first hit's category and keeps the hits (field and offsets); the remote
provider decides otherwise; its outage follows the configured policy; the address is not checked. The
lexicon holder refuses a bad file at start, follows a changed file, keeps the lexicon in force when the
file turns bad, and reloads at an operator's broadcast.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from services.moderation.check import MAX_HITS_KEPT, UNCHECKED, CheckOutcome, ContentCheck, DownPolicy
from services.moderation.lexicon_holder import LexiconHolder, LexiconLoadError
from services.moderation.remote import RemoteCheckUnavailable, RemoteVerdict
from shared.failures import UnavailableError
from shared.messages.moderation import ModerationReloadV1

LEXICON = "spamword\tads\n传销\tpyramid\n"


class ScriptedRemote:
    """A remote checker that answers what it is told and records what it was asked."""

    name = "scripted"

    def __init__(self, answer: RemoteVerdict | Exception) -> None:
        self.answer = answer
        self.asked: list[tuple[str, str | None]] = []

    async def check(self, text: str, *, title: str | None = None) -> RemoteVerdict:
        self.asked.append((text, title))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    async def close(self) -> None:
        return None


def message(content: str, **body: str) -> dict[str, Any]:
    return {"_id": "m1", "keyKind": "group", "body": {"content": content, **body}}


async def holder_of(tmp_path: Path, text: str = LEXICON) -> LexiconHolder:
    path = tmp_path / "lexicon.tsv"
    path.write_text(text, encoding="utf-8")
    holder = LexiconHolder(path, poll_seconds=3600)
    await holder.load()
    return holder


async def test_a_lexicon_hit_rejects_with_its_category_and_where_it_was(tmp_path: Path) -> None:
    remote = ScriptedRemote(RemoteVerdict("pass", 100, "normal", "scripted"))
    check = ContentCheck(await holder_of(tmp_path), remote)
    outcome = await check.check(message("join the 传销 now", title="a spamword"))
    assert (outcome.verdict, outcome.by, outcome.category) == ("reject", "lexicon", "ads")
    assert [(hit.field, hit.word, hit.category, hit.start, hit.end) for hit in outcome.hits] == [
        ("title", "spamword", "ads", 2, 10),
        ("content", "传销", "pyramid", 9, 11),
    ]
    assert remote.asked == []  # the lexicon decided: the provider is not asked
    record = outcome.as_document(checked_at=7)
    assert record["verdict"] == "reject" and record["checkedAt"] == 7 and len(record["hits"]) == 2

    many = await check.check(message(" ".join(["spamword"] * (MAX_HITS_KEPT + 5))))
    assert len(many.hits) == MAX_HITS_KEPT


async def test_the_address_is_not_checked_and_clean_text_passes(tmp_path: Path) -> None:
    check = ContentCheck(await holder_of(tmp_path))
    outcome = await check.check(message("nothing to see", url="https://example.com/spamword"))
    assert outcome == CheckOutcome("pass", "lexicon")


@pytest.mark.parametrize(
    ("suggest", "expected"),
    [("risky", ("reject", "remote", "porn")), ("review", ("review", "remote", "porn")), ("pass", None)],
)
async def test_the_remote_provider_decides_what_the_lexicon_lets_through(
    tmp_path: Path, suggest: Any, expected: tuple[str, str, str] | None
) -> None:
    remote = ScriptedRemote(RemoteVerdict(suggest, 20002, "porn", "scripted"))
    check = ContentCheck(await holder_of(tmp_path), remote)
    outcome = await check.check(message("body text", title="head", copyText="copied"))
    assert remote.asked == [("body text\ncopied", "head")]
    if expected is None:
        assert (outcome.verdict, outcome.by, outcome.category) == ("pass", "remote", None)
    else:
        assert (outcome.verdict, outcome.by, outcome.category) == expected
        assert outcome.reason == f"remote: {expected[0]} (porn)"
    assert outcome.as_document(checked_at=1)["remote"] == {
        "provider": "scripted",
        "suggest": suggest,
        "label": 20002,
        "category": "porn",
    }


@pytest.mark.parametrize("failure", [RemoteCheckUnavailable("scripted", "timeout"), RuntimeError("surprise")])
@pytest.mark.parametrize("policy", ["hold", "pass", "reject"])
async def test_a_provider_outage_follows_the_policy(
    tmp_path: Path, failure: Exception, policy: DownPolicy
) -> None:
    check = ContentCheck(await holder_of(tmp_path), ScriptedRemote(failure), down_policy=policy)
    if policy == "hold":
        with pytest.raises(UnavailableError, match="held"):
            await check.check(message("clean"))
        return
    outcome = await check.check(message("clean"))
    assert outcome.remote_unavailable
    if policy == "pass":
        assert (outcome.verdict, outcome.by) == ("pass", "lexicon")
    else:
        assert (outcome.verdict, outcome.by, outcome.category) == ("reject", "policy", UNCHECKED)
    # The lexicon still rejects on its own, whatever the provider's state.
    assert (await check.check(message("spamword"))).verdict == "reject"


async def test_a_configured_file_that_cannot_be_loaded_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(LexiconLoadError, match="cannot be loaded"):
        await LexiconHolder(tmp_path / "missing.tsv").load()
    bad = tmp_path / "bad.tsv"
    bad.write_text("no tab on this line\n", encoding="utf-8")
    with pytest.raises(LexiconLoadError, match="cannot be loaded"):
        await LexiconHolder(bad).load()


async def test_the_shipped_list_is_used_when_no_file_is_configured() -> None:
    holder = LexiconHolder(None)
    lexicon = await holder.load()
    assert lexicon.size > 0 and holder.source == "the shipped list"
    assert await holder.poll_once() == 0


async def test_the_lexicon_follows_its_file_and_keeps_in_force_when_it_turns_bad(tmp_path: Path) -> None:
    holder = await holder_of(tmp_path)
    path = tmp_path / "lexicon.tsv"
    first = holder.current
    assert await holder.poll_once() == 0  # unchanged
    path.write_text(LEXICON + "lotto\tgambling\n", encoding="utf-8")
    os.utime(path, ns=(1, 1))  # a stamp of its own, however coarse the file system's clock
    assert await holder.poll_once() == 1
    assert holder.current is not first and holder.current.first_hit("LOTTO!") is not None

    in_force = holder.current
    path.write_text("broken line\n", encoding="utf-8")
    assert await holder.poll_once() == 0
    assert holder.current is in_force
    path.unlink()
    assert await holder.poll_once() == 0 and holder.current is in_force


async def test_an_operators_broadcast_reloads_even_an_unchanged_looking_file(tmp_path: Path) -> None:
    holder = await holder_of(tmp_path)
    path = tmp_path / "lexicon.tsv"
    stamp = path.stat()
    path.write_text(LEXICON.replace("spamword", "spamwork"), encoding="utf-8")  # same size
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # and the same time: polling misses it
    assert await holder.poll_once() == 0
    subscription = holder.subscription()
    assert subscription.broadcast and list(subscription.models) == [ModerationReloadV1]
    await subscription.handler(ModerationReloadV1(requested_by="alice"))
    assert holder.current.first_hit("spamwork") is not None and holder.current.first_hit("spamword") is None
