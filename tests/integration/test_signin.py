"""E-mail sign-in as a new user meets it, in both modes, with mail through a real local SMTP server:
sign up with only an address (by the code, or by the link's page), codes used once, replaced, killed by
five wrong tries and expiring, accounts that cannot sign in, and one account however many sign in at once."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import quote

import pytest

from services.auth.data import signin_codes, users
from shared.ids import now_ms
from tests.integration.signin_rig import MODES, World

pytestmark = pytest.mark.parametrize("mode", MODES)


async def test_a_new_address_signs_up_with_the_mailed_code(world: World) -> None:
    email = "Newcomer@Example.com"
    asked = await world.ask_for_mail(email)
    assert asked == {"ret": 0, "data": {"expiresIn": 600}, "errMsg": "success"}
    mail = await world.mail("newcomer@example.com")
    assert mail.raw.message["Subject"] == f"iGot sign-in code: {mail.code}"
    assert mail.raw.message["To"] == "newcomer@example.com"
    assert mail.link in mail.raw.part("html")

    wrong = f"{(int(mail.code) + 1) % 1_000_000:06d}"
    refused = await world.verify("newcomer@example.com", wrong)
    assert (refused["ret"], refused["data"]) == (303, {})
    signed_in = await world.verify(" newcomer@EXAMPLE.com ", mail.code)
    assert signed_in["ret"] == 0 and set(signed_in["data"]) == {"token"}
    token = signed_in["data"]["token"]

    account = (await world.call("GET", "/open/user/", token=token))["data"]
    assert account["email"] == "newcomer@example.com"
    assert len(account["key"]) == 24 and account["createdAt"].endswith("Z")
    # The new account's fixed key takes pushes.
    async with world.session.get(
        f"{world.deployment.gateway_url}/{account['key']}/{quote('hi')}"
    ) as response:
        assert response.status == 200

    # Used once: neither the code nor its link signs in again.
    assert (await world.verify("newcomer@example.com", mail.code))["ret"] == 303
    status, _, _ = await world.page("GET", mail.link)
    assert status == 404


async def test_the_link_page_signs_in_on_its_button_only(world: World) -> None:
    email = "linker@example.com"
    await world.ask_for_mail(email)
    mail = await world.mail(email)
    # Opening the link (as a mail scanner does) changes nothing.
    for _ in range(2):
        status, html, headers = await world.page("GET", mail.link)
        assert status == 200 and '<form method="post">' in html and "l***@example.com" in html
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert "<script" not in html.lower()

    status, html, headers = await world.page("POST", mail.link)
    assert status == 200 and headers["Cache-Control"] == "no-store"
    token, login_code = re.findall(r'<code style="[^"]*">([^<]+)</code>', html)
    assert len(token) >= 32 and len(login_code) == 6
    assert "desktop client" in html and "?token=" in html

    assert (await world.call("GET", "/open/user/", token=token))["data"]["email"] == email
    desktop = await world.call("POST", "/open/user/login", json={"code": login_code.upper()})
    assert desktop["ret"] == 0 and desktop["data"]["token"] != token

    # Used once, by the link: the link and the code are both spent.
    status, _, _ = await world.page("POST", mail.link)
    assert status == 404
    assert (await world.verify(email, mail.code))["ret"] == 303
    status, _, _ = await world.page("GET", f"{world.auth}/signin/not-a-real-link-token-at-all")
    assert status == 404


async def test_a_new_code_replaces_the_old_and_codes_expire(world: World) -> None:
    email = "twice@example.com"
    await world.ask_for_mail(email)
    first = await world.mail(email, 1)
    await world.ask_for_mail(email)
    second = await world.mail(email, 2)
    assert (await world.verify(email, first.code))["ret"] == 303
    status, _, _ = await world.page("GET", first.link)
    assert status == 404

    # Expired: the code is refused and the link's page says so.
    store = world.deployment.open_store()
    try:
        await store.collection(signin_codes.COLLECTION).update_many(
            {"email": email}, {"$set": {"expiresAt": now_ms() - 1}}
        )
    finally:
        await store.close()
    status, html, _ = await world.page("GET", second.link)
    assert status == 410 and "expired" in html
    status, _, _ = await world.page("POST", second.link)
    assert status == 410
    assert (await world.verify(email, second.code))["ret"] == 303


async def test_five_wrong_tries_kill_a_code(world: World) -> None:
    email = "guessed@example.com"
    await world.ask_for_mail(email)
    mail = await world.mail(email)
    wrong = [f"{(int(mail.code) + n) % 1_000_000:06d}" for n in range(1, 6)]
    answers = await asyncio.gather(*(world.verify(email, code) for code in wrong))
    assert [answer["ret"] for answer in answers] == [303] * 5
    assert (await world.verify(email, mail.code))["ret"] == 303
    status, _, _ = await world.page("GET", mail.link)
    assert status == 404


async def test_one_account_however_many_sign_in_at_once(world: World) -> None:
    email = "racer@example.com"
    await world.ask_for_mail(email)
    mail = await world.mail(email)
    answers = await asyncio.gather(*(world.verify(email, mail.code) for _ in range(4)))
    assert sorted(answer["ret"] for answer in answers) == [0, 303, 303, 303]
    store = world.deployment.open_store()
    try:
        assert await store.collection(users.COLLECTION).count({"email": email}) == 1
    finally:
        await store.close()


async def test_disabled_accounts_neither_get_mail_nor_sign_in(world: World) -> None:
    email = "paused@example.com"
    await world.sign_up(email)
    await world.ask_for_mail(email)
    by_link = await world.mail(email, 2)
    store = world.deployment.open_store()
    try:
        user = await users.get_by_email(store, email)
        assert user is not None
        await users.set_status(store, user["_id"], users.DISABLED, at_ms=now_ms())
    finally:
        await store.close()
    status, html, _ = await world.page("POST", by_link.link)
    assert status == 403 and "cannot sign in" in html
    assert (await world.verify(email, by_link.code))["ret"] == 303
    # No more mail to it, while the answer stays the same as for anyone.
    assert (await world.ask_for_mail(email))["ret"] == 0
    assert (await world.ask_for_mail("someone@example.com"))["ret"] == 0
    await world.mail("someone@example.com")
    assert len(world.mails_to(email)) == 2
