"""`igot moderation queue|show|approve|reject|reload`: the operator's side of moderation.

The review queue (`shared.data.moderation_reviews`) holds the group pushes the moderation service held
for a person (`content`) and the messages receivers complained about (`complaint`). An operator lists it,
reads a review with its message as it was sent (kept intact while it waits), and approves or rejects it
(`services.moderation.decisions`): an approved held message goes on to its subscribers, a rejected one
reaches nobody; an approved complaint is dismissed, a rejected one records the message as rejected.
Repeating a decision redoes its effects and succeeds, so a command cut short is simply run again; the
opposite decision on a decided review is refused.

The commands work on the store and bus of `IGOT_MODE`, also while the servers run: an approval's onward
message is queued on the bus (standalone: in the SQLite file, taken by the running server at its next
poll). `reload` broadcasts `ModerationReloadV1` so every moderation process reads its lexicon file again
at once (they also notice a changed file by themselves within `IGOT_MODERATION_LEXICON_POLL_SECONDS`).

What a sender wrote is shown to the operator's terminal with its control characters escaped: a push
cannot move the cursor, retitle the window or hide text.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import re
import sys
import unicodedata
from pathlib import Path
from typing import Any, Literal

from igot.runtime import declare_topology, open_bus
from services.moderation import decisions
from services.moderation.lexicon import Lexicon, LexiconError
from shared.bus import BusUnavailableError, PublishError, TransientError
from shared.data import complaints, messages, moderation_reviews
from shared.data.moderation_reviews import Review
from shared.messages.moderation import ModerationReloadV1
from shared.settings import Settings
from shared.store import Store
from shared.timefmt import iso_ms

DEFAULT_LIMIT = 100
MAX_OPERATOR_NAME = 64
COMPLAINTS_SHOWN = 20
CHECK_STATES = {
    messages.CHECK_PENDING: "pending",
    messages.CHECK_REJECTED: "rejected",
    messages.CHECK_PASSED: "passed",
}
QUEUE_COLUMNS = ("id", "kind", "messageId", "reason", "category", "createdAt")
# Characters a terminal acts on or that reorder or hide text (controls, bidi overrides, line separators).
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
# C1 control characters pass `json.dumps(ensure_ascii=False)` unescaped; some terminals act on them.
_C1_CONTROLS = re.compile("[\x7f-\x9f]")

Verdict = Literal["approved", "rejected"]


def add_commands(commands: Any) -> None:
    """The `moderation` command and its subcommands, on the `igot` parser's subparsers."""
    moderation = commands.add_parser("moderation", help="the review queue and the lexicon")
    actions = moderation.add_subparsers(
        dest="moderation_command", required=True, metavar="{queue,show,approve,reject,reload}"
    )
    queue = actions.add_parser("queue", help="open reviews, oldest first: id, kind, message, reason, ...")
    queue.add_argument("--all", action="store_true", help="decided reviews too")
    queue.add_argument("--json", action="store_true")
    queue.add_argument("--limit", type=_positive, default=DEFAULT_LIMIT, help=f"default {DEFAULT_LIMIT}")
    show = actions.add_parser("show", help="one review and its message as it was sent")
    show.add_argument("review_id", metavar="REVIEW-ID")
    show.add_argument("--json", action="store_true")
    for verdict, summary in (
        ("approve", "a held message goes to its subscribers; a complaint is dismissed"),
        ("reject", "a held message reaches nobody; a complained-about message is recorded as rejected"),
    ):
        deciding = actions.add_parser(verdict, help=summary)
        deciding.add_argument("review_id", metavar="REVIEW-ID")
        deciding.add_argument(
            "--by", type=_operator_name, default=None, help="who decides (default: your login name)"
        )
    actions.add_parser("reload", help="every running moderation process reads its lexicon file again")


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return number


def _operator_name(text: str) -> str:
    name = text.strip()
    if not 1 <= len(name) <= MAX_OPERATOR_NAME or not name.isprintable():
        raise argparse.ArgumentTypeError(f"a name of 1 to {MAX_OPERATOR_NAME} printable characters")
    return name


def _login_name() -> str:
    try:
        return _operator_name(getpass.getuser())
    except (OSError, KeyError, argparse.ArgumentTypeError):  # no passwd entry, as in some containers
        return "operator"


async def run(settings: Settings, store: Store, args: argparse.Namespace) -> int:
    """One `igot moderation …` command on an open store; its exit code."""
    command = args.moderation_command
    if command == "queue":
        return await _queue(store, include_decided=args.all, as_json=args.json, limit=args.limit)
    if command == "show":
        return await _show(store, args.review_id, as_json=args.json)
    if command in ("approve", "reject"):
        verdict: Verdict = "approved" if command == "approve" else "rejected"
        return await _decide(settings, store, args.review_id, verdict, by=args.by or _login_name())
    return await _reload(settings, store)


# -- reading the queue ------------------------------------------------------------------------------------


def shown_review(review: Review) -> dict[str, Any]:
    return {
        "id": review.id,
        "kind": review.kind,
        "messageId": review.message_id,
        "status": review.status,
        "reason": review.reason,
        "category": review.category,
        "createdAt": iso_ms(review.created_at),
        "decidedAt": iso_ms(review.decided_at) if review.decided_at is not None else None,
        "decidedBy": review.decided_by,
        "details": review.details,
    }


async def _queue(store: Store, *, include_decided: bool, as_json: bool, limit: int) -> int:
    status = None if include_decided else "open"
    reviews, count = await moderation_reviews.list_reviews(store, status=status, limit=limit)
    rows = [shown_review(review) for review in reviews]
    if as_json:
        _out(_json({"reviews": rows, "count": count}))
        return 0
    columns = (*QUEUE_COLUMNS, "status", "decidedBy") if include_decided else QUEUE_COLUMNS
    _out(table(rows, columns))
    if count > len(rows):
        _err(f"{len(rows)} of {count} shown: --limit {count} shows them all")
    return 0


def table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    """Aligned columns under a header line; each cell on one line, escaped."""
    cells = [columns, *[tuple(_cell(row.get(name)) for name in columns) for row in rows]]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in cells
    )


def _cell(value: object) -> str:
    return "-" if value is None or value == "" else printable(str(value), one_line=True)


def printable(text: str, *, one_line: bool = False) -> str:
    """`text` with every control and format character escaped (`\\x1b`, `\\u202e`); line breaks and
    tabs kept unless `one_line`."""
    kept = "" if one_line else "\n\t"
    return "".join(_escaped(char, kept) for char in text)


def _escaped(char: str, kept: str) -> str:
    if char in kept or unicodedata.category(char) not in _HIDDEN_CATEGORIES:
        return char
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


async def _show(store: Store, review_id: str, *, as_json: bool) -> int:
    review = await moderation_reviews.get(store, review_id)
    if review is None:
        _err(f"igot: no such review: {printable(review_id, one_line=True)} (see igot moderation queue)")
        return 1
    message = await messages.get_by_id(store, review.message_id)
    filed = await complaints.list_for_message(store, review.message_id, limit=COMPLAINTS_SHOWN)
    shown = {
        "review": shown_review(review),
        "message": _shown_message(message) if message is not None else None,
        "complaints": {
            "count": await complaints.count_for_message(store, review.message_id),
            "reasons": [complaint.reason for complaint in filed if complaint.reason],
        },
    }
    _out(_json(shown) if as_json else _show_text(shown))
    return 0


def _shown_message(message: dict[str, Any]) -> dict[str, Any]:
    body = message.get("body") or {}
    return {
        "id": message["_id"],
        "keyKind": message.get("keyKind"),
        "source": message.get("source"),
        "linkId": message.get("linkId"),
        "senderId": message.get("senderId"),
        "topic": message.get("topic"),
        "title": body.get("title", ""),
        "content": body.get("content", ""),
        "url": body.get("url", ""),
        "copyText": body.get("copyText", ""),
        "createdAt": iso_ms(message["createdAt"]) if isinstance(message.get("createdAt"), int) else None,
        "checked": CHECK_STATES[messages.check_state(message)],
    }


def _show_text(shown: dict[str, Any]) -> str:
    review, message = shown["review"], shown["message"]
    lines = [f"{name:<10}{_cell(review[name])}" for name in ("id", "kind", "status", "reason", "category")]
    lines.append(f"{'created':<10}{review['createdAt']}")
    if review["decidedAt"]:
        lines.append(f"{'decided':<10}{review['decidedAt']} by {_cell(review['decidedBy'])}")
    for hit in review["details"].get("hits") or []:
        lines.append(f"{'hit':<10}{_hit_text(hit, message)}")
    if message is None:
        lines.append(f"message   {review['messageId']}: gone (deleted since)")
        return "\n".join(lines)
    sender = f"{message['keyKind']} key"
    if message["keyKind"] == "group":
        sender = f'group link "{_cell(message["source"])}" (link id {_cell(message["linkId"])})'
    lines += [
        "",
        f"message   {message['id']}",
        f"{'from':<10}{sender}, user {_cell(message['senderId'])}",
        f"{'sent':<10}{message['createdAt']}",
        f"{'checked':<10}{message['checked']}",
    ]
    for name in ("topic", "title", "url", "copyText"):
        if message[name]:
            lines.append(f"{name:<10}{_cell(message[name])}")
    lines.append("content")
    lines += [f"  {line}" for line in printable(message["content"]).split("\n")]
    filed = shown["complaints"]
    if filed["count"]:
        lines.append(f"complaints {filed['count']}")
        lines += [f"  {_cell(reason)}" for reason in filed["reasons"]]
    return "\n".join(lines)


def _hit_text(hit: dict[str, Any], message: dict[str, Any] | None) -> str:
    """`word (category) in field: "what the sender wrote"`: the written form shows a disguise (`f.u.c.k`)."""
    field = hit.get("field")
    shown = f"{_cell(hit.get('word'))} ({_cell(hit.get('category'))}) in {_cell(field)}"
    text = message.get(str(field)) if message is not None else None
    start, end = hit.get("start"), hit.get("end")
    if isinstance(text, str) and isinstance(start, int) and isinstance(end, int) and 0 <= start < end:
        shown += f': "{_cell(text[start:end])}"'
    return shown


# -- deciding ---------------------------------------------------------------------------------------------


async def _decide(settings: Settings, store: Store, review_id: str, verdict: Verdict, *, by: str) -> int:
    before = await moderation_reviews.get(store, review_id)
    shown_id = printable(review_id, one_line=True)
    if before is None:
        _err(f"igot: no such review: {shown_id} (see igot moderation queue)")
        return 1
    if before.status not in ("open", verdict):
        _err(
            f"igot: review {shown_id} was {before.status} by {_cell(before.decided_by)}"
            f" at {iso_ms(before.decided_at or before.created_at)}: no such open review"
        )
        return 1
    # A bus that cannot start fails the command before anything is decided (`BusUnavailableError`).
    bus = open_bus(settings, settings.mode, store=store)
    await bus.start()
    try:
        # An approved held message is published onward: its queue must be bound in this process too.
        await declare_topology(bus)
        decide = decisions.approve if verdict == "approved" else decisions.reject
        try:
            review = await decide(store, bus, review_id, by=by)
        except TransientError as error:
            _err(
                f"igot: review {shown_id} {verdict}, but its message was not passed on ({error}):"
                " run the command again"
            )
            return 1
    finally:
        await bus.stop()
    if review is None:  # decided the other way meanwhile
        _err(f"igot: review {shown_id} was decided meanwhile: no such open review")
        return 1
    again = " again" if before.status == verdict else ""
    _out(f"review {review.id} {verdict}{again} by {review.decided_by or by}: {_effect(review)}")
    return 0


def _effect(review: Review) -> str:
    if review.kind == "complaint":
        if review.status == "approved":
            return "the complaint is dismissed; the message stays as it was"
        return "the message is recorded as rejected; deliveries already made stay made"
    if review.status == "approved":
        return "the message goes on to its subscribers"
    return "the message reaches nobody"


# -- the lexicon ------------------------------------------------------------------------------------------


def _lexicon_report(source: str) -> tuple[bool, str]:
    """Whether the lexicon file here loads, and a line saying what it holds (or what is wrong with it)."""
    if not source:
        return True, "lexicon: the shipped list (IGOT_MODERATION_LEXICON is not set)"
    path = Path(source)
    if not path.is_file():
        return True, f"lexicon {source} is not on this machine: the moderation processes read their own copy"
    # The operator learns of a file the services would refuse (they keep their previous lexicon).
    try:
        lexicon = Lexicon.load(path)
    except (LexiconError, OSError) as error:
        return False, f"igot: lexicon {source} not reloaded: {error}"
    return True, f"lexicon {source}: {lexicon.size} words in {len(lexicon.categories)} categories"


async def _reload(settings: Settings, store: Store) -> int:
    loads, report = await asyncio.to_thread(_lexicon_report, settings.moderation_lexicon)
    if not loads:
        _err(report)
        return 1
    _out(report)
    bus = open_bus(settings, settings.mode, store=store)
    try:
        await bus.start()
        await bus.publish(ModerationReloadV1(requested_by=_login_name()))
    except (BusUnavailableError, PublishError) as error:
        _err(
            f"igot: reload not announced ({error}): the moderation processes notice a changed file"
            f" within {settings.moderation_lexicon_poll_seconds:g} s by themselves"
        )
        return 1
    finally:
        await bus.stop()
    _out("reload announced: every running moderation process reads its lexicon again now")
    return 0


def _json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return _C1_CONTROLS.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")
