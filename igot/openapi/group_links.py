"""Group links in the OpenAPI document: the creator's `/open/link/group` API, the market, subscriptions
(`/open/subscription`) and the public subscribe page `/s/{id}` with its QR code."""

from __future__ import annotations

from typing import Any

from igot.openapi.pieces import JSON, Operation, answer, operation, page_parameters, parameter
from igot.openapi.schemas import HEX24, Schema, obj, ref, success_or_refusal, text
from services.auth.group_links import MAX_TOPIC_LENGTH
from services.auth.subscriptions import MAX_TOPICS_CHOSEN
from services.auth.temporary_links import MAX_NAME_LENGTH

TAG = "group links"
TAG_DESCRIPTION = (
    "Subscription links: one push key, many receivers. The creator keeps the key; everyone else knows a "
    "link by its public `id`, from its subscribe page `/s/{id}`, its QR code or the market, and subscribes "
    "with a strong (push ways) or weak (inbox only) reminder and a choice of topics. As the inbox, token "
    "in `?token=` or a bearer."
)
CLIENT_AUTH: list[dict[str, list[str]]] = [{"tokenQuery": []}, {"bearerToken": []}]
EVERY_RET = "HTTP 200 for every `ret`, as existing clients expect"
NOT_OWNER = "someone else's key, a deleted link or no link at all is ret 203, alike"
HTML = "text/html"
COUNT = {"type": "integer", "minimum": 0}


def group_link_tag() -> dict[str, str]:
    return {"name": TAG, "description": TAG_DESCRIPTION}


def _body(properties: dict[str, Schema], required: tuple[str, ...] = ()) -> Schema:
    schema = obj(properties, required=required, closed=False)
    return {
        "required": False,
        "content": {JSON: {"schema": schema}, "application/x-www-form-urlencoded": {"schema": schema}},
    }


def _flag(description: str) -> Schema:
    return {
        "oneOf": [{"type": "boolean"}, {"enum": [0, 1]}, {"enum": ["true", "false", "1", "0"]}],
        "description": description,
    }


def _name(description: str) -> Schema:
    return text(description, minLength=1, maxLength=MAX_NAME_LENGTH)


def _topic(description: str = "") -> Schema:
    return text(description, minLength=1, maxLength=MAX_TOPIC_LENGTH)


def _topics(description: str) -> Schema:
    return {"type": "array", "items": _topic(), "maxItems": MAX_TOPICS_CHOSEN, "description": description}


def _link_id(description: str = "the link's public subscribe id (never its push key)") -> Schema:
    return text(description, pattern=HEX24)


def _subscribe_url() -> Schema:
    return text("absolute URL of the PNG QR code of the link's subscribe page", format="uri")


def _client(method: str, path: str, operation_id: str, summary: str, data: Schema, **extra: Any) -> Operation:
    return Operation(
        method,
        path,
        operation(
            operation_id, summary, TAG, {"200": answer(EVERY_RET, data)}, security=CLIENT_AUTH, **extra
        ),
    )


def _key() -> Schema:
    return parameter("key", "path", text(pattern=HEX24), "the link's push key")


def _id() -> Schema:
    return parameter("id", "path", text(pattern=HEX24), "the link's public subscribe id")


def _listing(name: str, item: Schema, count: str) -> Schema:
    return success_or_refusal(
        obj(
            {name: {"type": "array", "items": item}, "count": {**COUNT, "description": count}},
            required=(name, "count"),
        )
    )


def _own_link() -> Schema:
    return obj(
        {
            "key": text(
                "the push key: the creator pushes to `/{key}/…`; never shown to anyone else", pattern=HEX24
            ),
            "name": text("the link's name"),
            "subscribe": _subscribe_url(),
            "id": _link_id(),
            "open": {"type": "boolean", "description": "listed in the market"},
            "status": {"enum": ["active", "closed"]},
            "subscribers": COUNT,
        },
        required=("key", "name", "subscribe", "id", "open", "status", "subscribers"),
    )


def _market_link() -> Schema:
    return obj(
        {"name": text(), "subscribe": _subscribe_url(), "id": _link_id(), "subscribers": COUNT},
        required=("name", "subscribe", "id", "subscribers"),
    )


def _subscription() -> Schema:
    return obj(
        {
            "id": _link_id(),
            "name": text("the link's name"),
            "strong": {"type": "boolean", "description": "pushed on push ways (true) or inbox only (false)"},
            "topics": {"type": "array", "items": text(), "description": "chosen topics; empty: every topic"},
            "status": {"enum": ["active", "closed"]},
        },
        required=("id", "name", "strong", "topics", "status"),
    )


def _subscriber() -> Schema:
    return obj(
        {
            "user": text("the subscriber's e-mail address, masked (`a***@example.com`)"),
            "strong": {"type": "boolean"},
            "topics": {"type": "array", "items": text()},
            "since": text("when they subscribed, UTC", format="date-time"),
        },
        required=("user", "strong", "topics", "since"),
    )


def _change(action: str, summary: str, **extra: Any) -> Operation:
    return _client(
        "post",
        f"/open/link/group/{{key}}/{action}",
        f"{action}GroupLink",
        f"{summary} {NOT_OWNER}.",
        ref("Done"),
        parameters=[_key()],
        **extra,
    )


def _creator_operations() -> list[Operation]:
    page = page_parameters()
    created = obj({"key": text("the new push key", pattern=HEX24), "id": _link_id()}, required=("key", "id"))
    topic = obj({"name": text(), "createdAt": text(format="date-time")}, required=("name", "createdAt"))
    return [
        _client(
            "post",
            "/open/link/group",
            "createGroupLink",
            "Create a group link: a push key for its creator and a public id to subscribe by. `open` "
            "(default false) lists it in the market. More links than `IGOT_GROUP_LINKS_PER_USER` that are "
            "not deleted is ret 208.",
            success_or_refusal(created),
            body=_body(
                {"name": _name("1 to 32 characters on one line"), "open": _flag("list it in the market")},
                required=("name",),
            ),
        ),
        _client(
            "get",
            "/open/link/group",
            "listGroupLinks",
            "A page of the user's group links (deleted ones are not listed), newest first, with their "
            "subscriber counts.",
            _listing("links", _own_link(), "the user's links but deleted ones"),
            parameters=page,
        ),
        _client(
            "get",
            "/open/link/group/market",
            "groupLinkMarket",
            "A page of the open, active group links of every user, newest first; never a push key.",
            _listing("links", _market_link(), "open, active links"),
            parameters=page,
        ),
        _client(
            "get",
            "/open/link/group/{key}/subscribers",
            "listGroupLinkSubscribers",
            f"A page of the link's subscribers, newest first, e-mail addresses masked. {NOT_OWNER}.",
            _listing("subscribers", _subscriber(), "the link's subscribers"),
            parameters=[_key(), *page],
        ),
        _client(
            "get",
            "/open/link/group/{key}/topics",
            "listGroupLinkTopics",
            "The link's topics, oldest first; a push with a new `topic` creates one (up to 1000 listed). "
            f"{NOT_OWNER}.",
            success_or_refusal(obj({"topics": {"type": "array", "items": topic}}, required=("topics",))),
            parameters=[_key()],
        ),
        _client(
            "post",
            "/open/link/group/{key}/topics/rename",
            "renameGroupLinkTopic",
            "Rename a topic; subscribers who chose it follow it. An unknown topic is ret 203, a `to` the "
            f"link has already ret 208. {NOT_OWNER}.",
            ref("Done"),
            parameters=[_key()],
            body=_body({"name": _topic("the topic"), "to": _topic("its new name")}, required=("name", "to")),
        ),
        _client(
            "post",
            "/open/link/group/{key}/topics/delete",
            "deleteGroupLinkTopic",
            "Remove a topic from the list (a later push with it creates it again); subscribers keep their "
            f"choices. An unknown topic is ret 203. {NOT_OWNER}.",
            ref("Done"),
            parameters=[_key()],
            body=_body({"name": _topic("the topic")}, required=("name",)),
        ),
        _change(
            "rename",
            "Rename an active or closed link.",
            body=_body({"name": _name("the new name: 1 to 32 characters on one line")}, required=("name",)),
        ),
        _change(
            "close",
            "Close an active link (else ret 208): it takes no new subscribers, leaves the market and takes "
            "no more pushes.",
        ),
        _change("delete", "Delete a link with its subscriptions and topics: it is gone for everyone."),
    ]


def _subscriber_operations() -> list[Operation]:
    return [
        _client(
            "post",
            "/open/subscription/{id}",
            "subscribe",
            "Subscribe to a group link by its public id, or change the choices of a subscription. A closed "
            "link is ret 208, a deleted or unknown one ret 203. One may subscribe to one's own link.",
            success_or_refusal(_subscription()),
            parameters=[_id()],
            body=_body(
                {
                    "strong": _flag("true (default): pushed on the push ways; false: inbox only"),
                    "topics": _topics("topics to receive; empty or absent: every topic"),
                }
            ),
        ),
        _client(
            "post",
            "/open/subscription/{id}/cancel",
            "cancelSubscription",
            "Cancel a subscription; ret 203 when there is none.",
            ref("Done"),
            parameters=[_id()],
        ),
        _client(
            "get",
            "/open/subscription",
            "listSubscriptions",
            "A page of the user's subscriptions, newest first; never a push key.",
            _listing("subscriptions", _subscription(), "the user's subscriptions"),
            parameters=page_parameters(),
        ),
    ]


def _public_operations() -> list[Operation]:
    link_id = parameter("id", "path", text(), "the link's public subscribe id")
    page = operation(
        "groupLinkSubscribePage",
        "The subscribe page of a group link, for anyone (HTML, no script): its name, subscriber count, QR "
        "code and how to subscribe; 404 for no link, 410 for a closed one.",
        "links",
        {
            "200": answer("the page", text(), media=HTML),
            "404": answer("no such link", text(), media=HTML),
            "410": answer("the link is closed", text(), media=HTML),
        },
        parameters=[link_id],
    )
    png = answer("the PNG, never cached; no such link is the envelope with ret 203")
    png["content"] = {
        "image/png": {"schema": {"type": "string", "format": "binary"}},
        JSON: {"schema": ref("Refusal")},
    }
    qr = operation(
        "groupLinkSubscribeQrCode",
        "A QR code of the link's subscribe page URL (`{IGOT_PUBLIC_URL}/s/{id}`), for anyone.",
        "links",
        {"200": png, "404": answer("no such link", ref("Refusal"))},
        parameters=[link_id],
    )
    return [Operation("get", "/s/{id}", page), Operation("get", "/s/{id}/qr.png", qr)]


def group_link_operations() -> list[Operation]:
    return [*_creator_operations(), *_subscriber_operations(), *_public_operations()]
