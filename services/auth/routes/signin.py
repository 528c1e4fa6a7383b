"""Signing in by e-mail: `POST /open/user/email {email}`, `POST /open/user/email/verify {email, code}`
→ `{token}`, and the page behind the mailed link, `/signin/<token>`.

The page is opened from a mail, so it is a small HTML page with real HTTP statuses (as the push-way
links' pages): no script, nothing loaded, no referrer, not cached. `GET` only shows a button, because
mail scanners fetch links to look at them; the button's `POST` signs in and shows the session token and
a fresh login code for the desktop client.
"""

from __future__ import annotations

from html import escape

from aiohttp import web

from services.auth.routes.login import client_info, refuse_if_throttled
from services.auth.routes.verify import page
from services.auth.signin import EmailSignin, LinkOutcome, LinkResult
from shared.envelope import ApiError
from shared.http_json import body_fields, json_envelope
from shared.web import client_address

routes = web.RouteTableDef()
SIGNIN = web.AppKey("auth.email_signin", EmailSignin)

_CODE_STYLE = "font:1.2em ui-monospace,monospace;background:#f3f3f3;padding:.2em .4em;word-break:break-all"


@routes.post("/open/user/email")
async def request_code(request: web.Request) -> web.Response:
    signin = request.app[SIGNIN]
    email = (await body_fields(request)).get("email")
    await signin.request_code(email, client=client_address(request))
    # The same answer whether or not the address has an account.
    return json_envelope({"expiresIn": signin.policy.code_ttl_seconds})


@routes.post("/open/user/email/verify")
async def verify(request: web.Request) -> web.Response:
    limiter = await refuse_if_throttled(request)
    fields = await body_fields(request)
    try:
        token = await request.app[SIGNIN].verify(
            fields.get("email"), fields.get("code"), client=client_info(request)
        )
    except ApiError:
        await limiter.failed(client_address(request))
        raise
    return json_envelope({"token": token})


@routes.get("/signin/{token}", allow_head=False)
async def signin_page(request: web.Request) -> web.Response:
    signin = request.app[SIGNIN]
    return _page(await signin.link_state(request.match_info["token"]), signin)


@routes.post("/signin/{token}")
async def follow_signin_link(request: web.Request) -> web.Response:
    signin = request.app[SIGNIN]
    return _page(await signin.follow_link(request.match_info["token"], client=client_info(request)), signin)


def _page(result: LinkResult, signin: EmailSignin) -> web.Response:
    policy = signin.policy
    minutes = max(1, policy.code_ttl_seconds // 60)
    if result.outcome is LinkOutcome.READY:
        button = '<form method="post"><button type="submit">Sign in</button></form>'
        return page(200, "Sign in to iGot", f"Sign in as {result.masked_email}?", form=button)
    if result.outcome is LinkOutcome.SIGNED_IN and result.login_code is not None:
        hours = max(1, policy.token_ttl_seconds // 3600)
        code_minutes = max(1, policy.login_code_ttl_seconds // 60)
        details = (
            "<h2>Session token</h2>"
            f'<p><code style="{_CODE_STYLE}">{escape(result.token)}</code></p>'
            "<p>For the client API: send it as <code>?token=</code> or <code>Authorization: Bearer</code>. "
            f"It works for {hours} hours; end it under your sessions.</p>"
            "<h2>Login code</h2>"
            f'<p><code style="{_CODE_STYLE}">{escape(result.login_code.code)}</code></p>'
            "<p>To sign in the iGot desktop client: type it into its code box within "
            f"{code_minutes} minutes. It works once.</p>"
        )
        return page(200, "Signed in", f"You are signed in to iGot as {result.masked_email}.", form=details)
    if result.outcome is LinkOutcome.EXPIRED:
        text = f"This link expired: sign-in links work for {minutes} minutes. Ask for a new sign-in mail."
        return page(410, "Link expired", text)
    if result.outcome is LinkOutcome.REFUSED:
        return page(403, "Cannot sign in", "This account cannot sign in: it is disabled or being deleted.")
    text = "This link does not sign in: it was used already, or a newer sign-in mail replaced it."
    return page(404, "Unknown link", text)
