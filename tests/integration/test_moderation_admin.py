"""`igot moderation queue|show|approve|reject|reload` as an operator runs them against a running server, in
both run modes: a push the remote checker wants a person to see and a receiver's complaint wait in the
queue; the operator reads them (what the sender wrote, escaped for the terminal), approves the held push
(its subscriber receives it), rejects the complained-about message, and a repeat or a contrary decision
answers as it should. `reload` makes the running service read its lexicon at once (the deployment looks
at the file only once an hour), and a broken file is refused before anything is announced. Operator
mistakes get clear errors and exit codes, never a traceback.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from shared.data import messages, moderation_reviews
from shared.data.moderation_reviews import review_id
from tests.fakes.wechat_server import APPID, SECRET, WeChatServer
from tests.integration.conftest import deployed
from tests.integration.processes import Deployment, base_env
from tests.integration.test_admin_cli import run_cli
from tests.integration.test_complaints import complain, group_link, pushed_to
from tests.integration.test_fanout import User, new_user, push
from tests.integration.test_moderation import write_atomically
from tests.waiting import eventually

LEXICON = "# words the operator's tests reject\nbadword\tillegal\n"
HELD = "maybe \u202etomorrow"  # the fake checker wants a person to see "maybe"; U+202E reorders text


@pytest.fixture
async def wechat() -> AsyncIterator[WeChatServer]:
    server = WeChatServer(verdicts={"maybe": ("review", 20001)})
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture(params=["standalone", "distributed"])
async def deployment(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    amqp_url: str,
    mongo_url: str,
    namespace: str,
    wechat: WeChatServer,
) -> AsyncIterator[Deployment]:
    lexicon = tmp_path / "lexicon.tsv"
    write_atomically(lexicon, LEXICON)
    settings = {
        "moderation_lexicon": str(lexicon),
        # Only `igot moderation reload` can bring a changed list into force within the test.
        "moderation_lexicon_poll_seconds": "3600",
        "moderation_remote": "wechat",
        "moderation_wechat_api_base": wechat.url,
        "moderation_wechat_appid": APPID,
        "moderation_wechat_secret": SECRET,
        "moderation_wechat_openid": "o-moderation",
    }
    async with deployed(request.param, tmp_path, amqp_url, mongo_url, namespace, **settings) as running:
        yield running


def operator(deployment: Deployment, *args: str) -> subprocess.CompletedProcess[str]:
    result = run_cli(deployment.env, deployment.workdir, "moderation", *args)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def queue(deployment: Deployment, *args: str) -> dict[str, Any]:
    listed = operator(deployment, "queue", "--json", *args)
    assert listed.returncode == 0, listed.stderr
    answer: dict[str, Any] = json.loads(listed.stdout)
    return answer


async def sender_view(creator: User, message_id: str) -> dict[str, Any]:
    return await creator.detail(message_id)


async def test_an_operator_reads_and_decides_the_queue(deployment: Deployment) -> None:
    async with aiohttp.ClientSession() as session:
        creator = await new_user(deployment, session, "creator@example.com")
        reader = await new_user(deployment, session, "reader@example.com")
        key, link_id = await group_link(creator, reader)
        delivered, (entry,) = await pushed_to(deployment, key, "cheap pills", reader)
        assert (await complain(reader, entry, {"reason": "spam"}))["ret"] == 0
        status, answer = await push(session, deployment, key, title="plans", content=HELD)
        assert (status, answer["ret"]) == (200, 0), answer
        held = answer["data"]["id"]
        held_review, complaint_review = review_id(held, "content"), review_id(delivered, "complaint")

        async def both_queued() -> bool:
            return await _open_reviews(deployment) == 2

        await eventually(both_queued, what="the push held for review")
        listed = queue(deployment)
        assert listed["count"] == 2
        by_id = {review["id"]: review for review in listed["reviews"]}
        assert by_id[held_review]["kind"] == "content" and by_id[held_review]["messageId"] == held
        assert by_id[held_review]["reason"] == "remote: review (politics)"
        assert by_id[held_review]["category"] == "politics"
        assert by_id[complaint_review]["kind"] == "complaint"
        assert (by_id[complaint_review]["reason"], by_id[complaint_review]["category"]) == (
            "complaint: spam",
            None,
        )
        assert {review["status"] for review in listed["reviews"]} == {"open"}
        table = operator(deployment, "queue").stdout.splitlines()
        assert table[0].split() == ["id", "kind", "messageId", "reason", "category", "createdAt"]
        assert sorted(line.split()[0] for line in table[1:]) == sorted([held_review, complaint_review])

        # The held push as its sender wrote it, with what would act on a terminal escaped.
        shown = operator(deployment, "show", held_review)
        assert shown.returncode == 0, shown.stderr
        assert "\u202e" not in shown.stdout and "maybe \\u202etomorrow" in shown.stdout
        assert "plans" in shown.stdout and 'group link "deals"' in shown.stdout and link_id in shown.stdout
        # The remote checker held it: no lexicon word was found.
        assert not [line for line in shown.stdout.splitlines() if line.startswith("hit ")]
        assert "pending" in shown.stdout and key not in shown.stdout
        detail = json.loads(operator(deployment, "show", complaint_review, "--json").stdout)
        assert detail["review"]["id"] == complaint_review
        assert detail["message"]["content"] == "cheap pills" and detail["message"]["keyKind"] == "group"
        assert detail["complaints"] == {"count": 1, "reasons": ["spam"]}

        # Approved, the held push reaches its subscriber; approving again redoes nothing harmful.
        approved = operator(deployment, "approve", held_review, "--by", "olga")
        assert approved.returncode == 0, approved.stderr
        assert "approved by olga" in approved.stdout and "subscribers" in approved.stdout

        async def received() -> bool:
            return HELD in [m["body"]["content"] for m in await reader.inbox()]

        await eventually(received, what="the approved push in the subscriber's inbox")
        again = operator(deployment, "approve", held_review, "--by", "olga")
        assert again.returncode == 0 and "approved again" in again.stdout, again.stderr
        contrary = operator(deployment, "reject", held_review)
        assert contrary.returncode == 1 and "no such open review" in contrary.stderr
        assert "approved by olga" in contrary.stderr and contrary.stdout == ""

        # The complaint upheld: the message is recorded as rejected; the delivery made stays.
        rejected = operator(deployment, "reject", complaint_review, "--by", "olga")
        assert rejected.returncode == 0 and "rejected by olga" in rejected.stdout, rejected.stderr
        store = deployment.open_store()
        try:
            message = await messages.get_by_id(store, delivered)
            review = await moderation_reviews.get(store, complaint_review)
        finally:
            await store.close()
        assert message is not None and messages.check_state(message) == messages.CHECK_REJECTED
        assert review is not None and (review.status, review.decided_by) == ("rejected", "olga")
        assert (await sender_view(creator, delivered))["ret"] == 206
        assert "cheap pills" in [m["body"]["content"] for m in await reader.inbox()]

        assert queue(deployment) == {"reviews": [], "count": 0}
        every = queue(deployment, "--all")
        assert {(r["id"], r["status"], r["decidedBy"]) for r in every["reviews"]} == {
            (held_review, "approved", "olga"),
            (complaint_review, "rejected", "olga"),
        }
        assert operator(deployment, "queue").stdout.splitlines()[1:] == []
        for unknown in ("approve", "reject", "show"):
            refused = operator(deployment, unknown, f"{delivered}:nothing")
            assert refused.returncode == 1 and "no such review" in refused.stderr, refused.stderr


async def test_reload_brings_a_changed_lexicon_into_force(deployment: Deployment) -> None:
    lexicon = Path(deployment.env["IGOT_MODERATION_LEXICON"])
    async with aiohttp.ClientSession() as session:
        creator = await new_user(deployment, session, "creator@example.com")
        reader = await new_user(deployment, session, "reader@example.com")
        key, _ = await group_link(creator, reader)
        await pushed_to(deployment, key, "newword before the change", reader)

        # A broken list is refused by the command itself, and nothing is announced.
        write_atomically(lexicon, "a line without its category\n")
        broken = operator(deployment, "reload")
        assert broken.returncode == 1 and "not reloaded" in broken.stderr, broken.stderr
        assert "announced" not in broken.stdout

        write_atomically(lexicon, LEXICON + "newword\tspam\n")
        reloaded = operator(deployment, "reload")
        assert reloaded.returncode == 0, reloaded.stderr
        assert "2 words" in reloaded.stdout and "reload announced" in reloaded.stdout

        async def rejected_now() -> bool:
            status, answer = await push(session, deployment, key, content="newword after the change")
            assert (status, answer["ret"]) == (200, 0), answer

            async def decided() -> bool:
                shown = await sender_view(creator, answer["data"]["id"])
                return bool(shown["data"]["message"].get("checked", 0) != messages.CHECK_PENDING)

            await eventually(decided, what="the push checked")
            return bool((await sender_view(creator, answer["data"]["id"]))["ret"] == 206)

        await eventually(rejected_now, timeout=20, what="the new word in force")
    assert "Traceback" not in deployment.logs()


async def _open_reviews(deployment: Deployment) -> int:
    store = deployment.open_store()
    try:
        _, count = await moderation_reviews.list_reviews(store, status="open")
    finally:
        await store.close()
    return count


def test_operator_mistakes_get_clear_errors(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    for args, code, words in (
        (("moderation",), 2, "{queue,show,approve,reject,reload}"),
        (("moderation", "approve"), 2, "REVIEW-ID"),
        (("moderation", "bless", "x"), 2, "invalid choice"),
        (("moderation", "queue", "--limit", "0"), 2, "not a positive whole number"),
        (("moderation", "reject", "m:content", "--by", " "), 2, "printable characters"),
        (("moderation", "approve", "nothing:content"), 1, "no such review"),
        (("moderation", "show", "nothing:complaint"), 1, "no such review"),
        (("moderation", "show", "\x1b[2Jx"), 1, "\\x1b[2Jx"),
    ):
        result = run_cli(env, tmp_path, *args)
        assert result.returncode == code, (args, result.stderr)
        assert words in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr and result.stdout == "", (args, result.stderr)
    # An empty store has an empty queue.
    listed = run_cli(env, tmp_path, "moderation", "queue", "--json")
    assert json.loads(listed.stdout) == {"reviews": [], "count": 0}
