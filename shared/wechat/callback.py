"""What WeChat's calls to the account's callback URL carry: a signature, and XML event messages.

Every call has `signature`, `timestamp` and `nonce` in its query; `signature` is the SHA-1 of the
account's token, the timestamp and the nonce sorted and joined, in hex. The XML is WeChat's flat
`<xml><ToUserName>…</ToUserName><FromUserName>…</FromUserName><MsgType>event</MsgType><Event>…</Event>
<EventKey>…</EventKey>…</xml>`; it is parsed without DTDs or entities (defusedxml), and only after the
signature was checked and the body's size capped.
"""

from __future__ import annotations

import hashlib
import hmac
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

MAX_XML_BYTES = 8 * 1024
MAX_FIELDS = 64


class BadEventError(ValueError):
    """The body is not an event message WeChat sends."""


def signature_of(token: str, timestamp: str, nonce: str) -> str:
    return hashlib.sha1("".join(sorted((token, timestamp, nonce))).encode()).hexdigest()


def signature_holds(token: str, *, signature: str, timestamp: str, nonce: str) -> bool:
    """A constant-time check; an unset token signs nothing."""
    if not token or not signature or not timestamp or not nonce:
        return False
    return hmac.compare_digest(signature_of(token, timestamp, nonce), signature.lower())


def parse_event(body: bytes) -> dict[str, str]:
    """The message's fields (the text of each child of `<xml>`); `BadEventError` for anything else."""
    if len(body) > MAX_XML_BYTES:
        raise BadEventError("the message is too large")
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError) as error:
        raise BadEventError(f"the message is not XML WeChat sends: {type(error).__name__}") from error
    if root.tag != "xml" or len(root) > MAX_FIELDS:
        raise BadEventError("the message is not XML WeChat sends")
    return {child.tag: (child.text or "").strip() for child in root if isinstance(child.tag, str)}


def event_xml(fields: dict[str, str]) -> bytes:
    """A flat message as WeChat writes one (texts in CDATA); used to answer and to simulate WeChat."""
    parts = []
    for name, value in fields.items():
        safe = value.replace("]]>", "]]]]><![CDATA[>")
        parts.append(f"<{name}><![CDATA[{safe}]]></{name}>")
    return f"<xml>{''.join(parts)}</xml>".encode()
