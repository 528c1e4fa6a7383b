"""E-mail sign-in tells nobody which addresses have accounts, and throttles mails and guessing, in both
modes: with open and with closed registration, the answers for a known and an unknown address are the
same, and so are the throttled ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.signin_rig import MODES, running_world
from tests.waiting import eventually

pytestmark = pytest.mark.parametrize("mode", MODES)
KNOWN, UNKNOWN = "known@example.com", "stranger@example.com"


def without_noise(answer: dict[str, Any]) -> dict[str, Any]:
    return {"ret": answer["ret"], "data": answer["data"], "errMsg": answer["errMsg"]}


async def test_closed_registration_answers_alike_and_mails_only_accounts(
    mode: str, tmp_path: Path, amqp_url: str, mongo_url: str, namespace: str
) -> None:
    async with running_world(
        mode, tmp_path, amqp_url, mongo_url, namespace, open_registration="false"
    ) as world:
        world.deployment.cli_json("user", "create", "--email", KNOWN)
        known, unknown = await world.ask_for_mail(KNOWN), await world.ask_for_mail(UNKNOWN)
        assert (
            without_noise(known)
            == without_noise(unknown)
            == {
                "ret": 0,
                "data": {"expiresIn": 600},
                "errMsg": "success",
            }
        )
        mail = await world.mail(KNOWN)
        # Whatever an unknown address is given answers as a wrong code does for a known one.
        wrong = f"{(int(mail.code) + 1) % 1_000_000:06d}"
        answers = [await world.verify(KNOWN, wrong), await world.verify(UNKNOWN, wrong)]
        answers.append(await world.verify(UNKNOWN, mail.code))
        assert len({str(without_noise(answer)) for answer in answers}) == 1
        assert answers[0]["ret"] == 303 and answers[0]["data"] == {}
        assert (await world.verify(KNOWN, mail.code))["ret"] == 0
        # The known address's mail went out long since: the unknown one's never will.
        await world.ask_for_mail(KNOWN)
        await world.mail(KNOWN, 2)
        assert world.mails_to(UNKNOWN) == []


async def test_open_registration_answers_alike(
    mode: str, tmp_path: Path, amqp_url: str, mongo_url: str, namespace: str
) -> None:
    async with running_world(mode, tmp_path, amqp_url, mongo_url, namespace) as world:
        world.deployment.cli_json("user", "create", "--email", KNOWN)
        known, unknown = await world.ask_for_mail(KNOWN), await world.ask_for_mail(UNKNOWN)
        assert without_noise(known) == without_noise(unknown)
        known_mail, unknown_mail = await world.mail(KNOWN), await world.mail(UNKNOWN)

        # Both mails say the same, but for the code and the link.
        def words(text: str) -> str:
            return text.replace(known_mail.code, "C").replace(unknown_mail.code, "C").split("http")[0]

        assert words(known_mail.raw.part("plain")) == words(unknown_mail.raw.part("plain"))
        wrong_known = f"{(int(known_mail.code) + 1) % 1_000_000:06d}"
        wrong_unknown = f"{(int(unknown_mail.code) + 1) % 1_000_000:06d}"
        assert without_noise(await world.verify(KNOWN, wrong_known)) == without_noise(
            await world.verify(UNKNOWN, wrong_unknown)
        )
        assert without_noise(await world.verify("never-asked@example.com", wrong_known)) == without_noise(
            await world.verify(KNOWN, wrong_known)
        )


async def test_mails_are_throttled_per_address_and_per_client(
    mode: str, tmp_path: Path, amqp_url: str, mongo_url: str, namespace: str
) -> None:
    limits = {
        "signin_mail_interval_seconds": "60",
        "signin_mails_per_address_per_hour": "5",
        "signin_mails_per_client_per_hour": "4",
        "open_registration": "false",
    }
    async with running_world(mode, tmp_path, amqp_url, mongo_url, namespace, **limits) as world:
        world.deployment.cli_json("user", "create", "--email", KNOWN)
        assert (await world.ask_for_mail(KNOWN))["ret"] == 0
        assert (await world.ask_for_mail(UNKNOWN))["ret"] == 0
        again = [await world.ask_for_mail(KNOWN), await world.ask_for_mail(UNKNOWN)]
        for answer in again:
            assert answer["ret"] == 205 and answer["data"] == {}
            assert 1 <= int(world.last_headers["Retry-After"]) <= 60
        assert without_noise(again[0]) == without_noise(again[1])
        await world.mail(KNOWN)
        # The client's budget (4 an hour) is spent by the 4 requests above, throttled ones included.
        answer = await world.ask_for_mail("third@example.com")
        assert answer["ret"] == 205 and "your address" in answer["errMsg"]
        # Bad input is refused before any limit counts it, and never as a server error.
        for bad in ({"email": "not an address"}, {"email": 42}, {}, {"email": "a" * 300 + "@example.com"}):
            refused = await world.call("POST", "/open/user/email", json=bad)
            assert refused["ret"] == 202, refused
        await eventually(lambda: len(world.mails_to(KNOWN)) == 1, what="one mail only")


async def test_guessing_codes_is_throttled_per_client(
    mode: str, tmp_path: Path, amqp_url: str, mongo_url: str, namespace: str
) -> None:
    async with running_world(
        mode, tmp_path, amqp_url, mongo_url, namespace, login_failures_per_client="3"
    ) as world:
        await world.ask_for_mail(KNOWN)
        mail = await world.mail(KNOWN)
        wrong = f"{(int(mail.code) + 1) % 1_000_000:06d}"
        assert [(await world.verify(KNOWN, wrong))["ret"] for _ in range(3)] == [303, 303, 303]
        throttled = await world.verify(KNOWN, mail.code)
        assert throttled["ret"] == 205 and int(world.last_headers["Retry-After"]) >= 1
        # Login codes share the budget: guessing one is refused too.
        assert (await world.call("POST", "/open/user/login", json={"code": "abc234"}))["ret"] == 205
