"""The e-mail's two bodies, text and HTML, from one message.

Everything a sender wrote is escaped before it goes into the HTML (a message's content must never become
markup), and a link is only made of an http(s) URL. Line breaks of the content are kept in both parts.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from string import Template
from urllib.parse import urlsplit

# Mail readers recognise "-- " (with its space) as the start of a signature and can fold it away.
SIGNATURE_SEPARATOR = "-- "
TEXT = Template("""$title_block$content
$link_block
$signature
$footer
""")

HTML = Template("""<!doctype html>
<html>
<head><meta charset="utf-8"><title>$title</title></head>
<body style="font-family: -apple-system, 'Segoe UI', sans-serif; line-height: 1.5; color: #222;">
$title_block<div style="white-space: pre-wrap;">$content</div>
$link_block<hr style="border: none; border-top: 1px solid #ddd; margin-top: 2em;">
<p style="color: #888; font-size: 12px;">$footer</p>
</body>
</html>
""")


@dataclass(frozen=True)
class Bodies:
    text: str
    html: str


def render(*, title: str, content: str, url: str, footer: str, unsubscribe_url: str | None) -> Bodies:
    link = url if _is_web_link(url) else ""
    text = TEXT.substitute(
        title_block=f"{title}\n\n" if title else "",
        content=content,
        link_block=f"\n{link}\n" if link else "",
        signature=SIGNATURE_SEPARATOR,
        footer=footer + (f"\nUnsubscribe: {unsubscribe_url}" if unsubscribe_url else ""),
    )
    footer_html = html.escape(footer)
    if unsubscribe_url:
        footer_html += f' · <a href="{html.escape(unsubscribe_url)}">Unsubscribe</a>'
    markup = HTML.substitute(
        title=html.escape(title),
        title_block=f"<h2>{html.escape(title)}</h2>\n" if title else "",
        content=html.escape(content),
        link_block=f'<p><a href="{html.escape(link)}">{html.escape(link)}</a></p>\n' if link else "",
        footer=footer_html,
    )
    return Bodies(text=text, html=markup)


def _is_web_link(url: str) -> bool:
    return urlsplit(url).scheme in ("http", "https") if url else False
