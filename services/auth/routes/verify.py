"""The pages behind the links iGot sends: `/verify/<token>` and `/unsubscribe/<token>`.

People open these in a browser, from a Bark push, a mail or a webhook's payload, so they answer small
HTML pages with real HTTP statuses (200 done, 404 unknown link, 410 used or expired), not envelopes.
The pages carry no script and load nothing; the link's token must not travel on to anywhere else
(`Referrer-Policy`), nor be kept by caches. Verifying changes state, so neither route answers HEAD.

`POST /unsubscribe/<token>` is the one-click unsubscribe of RFC 8058 (mail clients post
`List-Unsubscribe=One-Click` to it); the page behind `GET` asks for that same click.
"""

from __future__ import annotations

from html import escape

from aiohttp import web

from services.auth.push_ways import WAY_NAMES, LinkOutcome
from services.auth.routes.push_ways import PUSH_WAYS

routes = web.RouteTableDef()

PAGE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
_STYLE = "body{font:16px/1.5 system-ui,sans-serif;max-width:32em;margin:4em auto;padding:0 1em;color:#222}"

_OUTCOMES: dict[LinkOutcome, tuple[int, str, str]] = {
    LinkOutcome.VERIFIED: (200, "Verified", "Your {way} is verified: iGot pushes reach it from now on."),
    LinkOutcome.ALREADY_VERIFIED: (200, "Already verified", "Your {way} was verified already."),
    LinkOutcome.USED: (410, "Link already used", "This link was used already; each link works once."),
    LinkOutcome.EXPIRED: (
        410,
        "Link expired",
        "This link expired: links work for 24 hours. Ask iGot to send the verification again.",
    ),
    LinkOutcome.STALE: (
        410,
        "Link no longer valid",
        "Your {way} was unbound or bound to another address since this link was sent.",
    ),
    LinkOutcome.UNKNOWN: (404, "Unknown link", "This link is not one iGot sent, or it is too old."),
}


def page(status: int, title: str, text: str, *, form: str = "") -> web.Response:
    return html_page(status, title, f"<p>{escape(text)}</p>{form}")


def html_page(
    status: int, title: str, body: str, *, policy: str = PAGE_POLICY, style: str = ""
) -> web.Response:
    """A small page of iGot's: `body` is HTML the caller escaped; `style` is added to the page's CSS."""
    text = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>iGot: {escape(title)}</title><style>{_STYLE}{style}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return web.Response(
        text=text,
        status=status,
        content_type="text/html",
        headers={
            "Content-Security-Policy": policy,
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@routes.get("/verify/{token}", allow_head=False)
async def follow_verification(request: web.Request) -> web.Response:
    result = await request.app[PUSH_WAYS].follow_link(request.match_info["token"])
    status, title, text = _OUTCOMES[result.outcome]
    return page(status, title, text.format(way=WAY_NAMES.get(result.way, "push way")))


@routes.get("/unsubscribe/{token}", allow_head=False)
async def unsubscribe_page(request: web.Request) -> web.Response:
    address = await request.app[PUSH_WAYS].unsubscribe_address(request.match_info["token"])
    if address is None:
        return page(404, "Unknown link", "No e-mail push way has this link: it may be unsubscribed already.")
    button = '<form method="post"><button type="submit">Unsubscribe</button></form>'
    return page(200, "Unsubscribe", f"Stop iGot pushes by e-mail to {address}?", form=button)


@routes.post("/unsubscribe/{token}")
async def unsubscribe(request: web.Request) -> web.Response:
    if not await request.app[PUSH_WAYS].unsubscribe(request.match_info["token"]):
        return page(404, "Unknown link", "No e-mail push way has this link: it may be unsubscribed already.")
    return page(200, "Unsubscribed", "iGot sends no more pushes to this address. Bind it again to resume.")
