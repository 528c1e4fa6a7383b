"""WeChat in the OpenAPI document: the bind QR code of the client API, and the official account's callback."""

from __future__ import annotations

from igot.openapi.pieces import Operation, answer, operation, parameter
from igot.openapi.schemas import Schema, obj, ref, success_or_refusal, text
from services.auth.routes.wechat import ECHOSTR
from shared.wechat.callback import MAX_XML_BYTES

CLIENT_AUTH: list[dict[str, list[str]]] = [{"tokenQuery": []}, {"bearerToken": []}]
TAG = "WeChat"
TAG_DESCRIPTION = (
    "The operator's WeChat official account: the QR code that binds a user's WeChat, and the callback "
    "WeChat calls (configured in the account as the server URL, plaintext mode, `IGOT_WECHAT_TOKEN`)."
)
PLAIN = "text/plain"


def wechat_tag() -> dict[str, str]:
    return {"name": TAG, "description": TAG_DESCRIPTION}


def wechat_schemas() -> dict[str, Schema]:
    qrcode = obj(
        {
            "qrcode": text("the QR code's image: WeChat's `showqrcode?ticket=` address"),
            "ticket": text("WeChat's ticket of the QR code"),
            "expireAt": text("when the code stops binding, UTC", format="date-time"),
        },
        required=("qrcode", "ticket", "expireAt"),
    )
    return {"WeChatQrCode": success_or_refusal(qrcode)}


def _signed() -> list[Schema]:
    return [
        parameter(
            "signature", "query", text(), "sha1 of the sorted token, timestamp and nonce", required=True
        ),
        parameter("timestamp", "query", text(), "as WeChat sent it", required=True),
        parameter("nonce", "query", text(), "as WeChat sent it", required=True),
    ]


def _refused(statuses: dict[str, str]) -> dict[str, Schema]:
    return {status: answer(meaning, ref("Refusal")) for status, meaning in statuses.items()}


def wechat_operations() -> list[Operation]:
    echostr = parameter(
        "echostr", "query", text(pattern=f"^{ECHOSTR.pattern}$"), "echoed back", required=True
    )
    refused = {"403": "signature missing or wrong (ret 207); nothing changed"}
    return [
        Operation(
            "get",
            "/open/push-way/wechat/bind",
            operation(
                "bindWeChat",
                "A QR code that binds the user's WeChat when scanned in WeChat (valid 10 minutes), if the "
                "way is unbound (else ret 208; also when the server has no official account); ret 102 when "
                "WeChat cannot make one now.",
                "push ways",
                {"200": answer("HTTP 200 for every `ret`, as existing clients expect", ref("WeChatQrCode"))},
                security=CLIENT_AUTH,
            ),
        ),
        Operation(
            "get",
            "/wechat/callback",
            operation(
                "checkWeChatCallback",
                "WeChat's check of the callback URL: answers `echostr` when the signature holds.",
                TAG,
                {
                    "200": answer("the echostr", text(), media=PLAIN),
                    **_refused({"400": "echostr missing or malformed (ret 202)", **refused}),
                },
                parameters=[*_signed(), echostr],
            ),
        ),
        Operation(
            "post",
            "/wechat/callback",
            operation(
                "receiveWeChatEvent",
                "One message of WeChat's (XML): a QR scan (`subscribe`, `SCAN`) binds the scene's user, "
                "`unsubscribe` unbinds every way of the follower; anything else is acknowledged.",
                TAG,
                {
                    "200": answer("`success`", text(), media=PLAIN),
                    **_refused(
                        {
                            "400": "not XML WeChat sends (ret 202)",
                            **refused,
                            "408": "request body too slow (ret 202)",
                            "413": f"body over {MAX_XML_BYTES} bytes (ret 202)",
                        }
                    ),
                },
                parameters=_signed(),
                body={
                    "required": True,
                    "content": {
                        "text/xml": {"schema": text(maxLength=MAX_XML_BYTES)},
                        "application/xml": {"schema": text(maxLength=MAX_XML_BYTES)},
                    },
                },
            ),
        ),
    ]
