"""WeChat's official-account HTTP API, the few calls iGot makes: network and answers only.

Every call is `POST {IGOT_WECHAT_API_BASE}/cgi-bin/...` with a JSON body; the answer is JSON with
`errcode` (0 or absent: success) and `errmsg`. What a call cannot get an answer from (timeouts, refused
connections, 5xx, an answer that is not JSON) is a `TransientError`, any other HTTP status a
`PermanentError` (the API base is not WeChat's); an answer with an errcode is
returned as it is, since what a code means depends on the call (`errcode_of` reads it).

* `stable_token`: the account's access token (`grant_type=client_credential`); in normal mode WeChat
  answers the token in force and renews it itself in its last 5 minutes, `force_refresh` asks for a new
  one at once (a few times a day at most);
* `create_scene_qrcode`: a temporary QR code (`QR_STR_SCENE`) whose scan sends the scene to the callback;
* `send_template`: a template message to one follower.

The API base is the operator's (like `IGOT_BARK_SERVER`), so these calls are not held to the outbound
guard of user-supplied addresses. Errcodes that matter here are named below.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp

from shared.failures import PermanentError, TransientError

# The access token is invalid, expired, or not the newest: fetch a new one and call again.
TOKEN_REJECTED = frozenset({40001, 42001, 40014})
# The follower unfollowed (43004) or the openid is not one of this account's (40003).
RECIPIENT_GONE = frozenset({43004, 40003})
# Call limits of the account: 45009 daily quota reached, 45047 too many messages to one follower.
LIMITED = frozenset({45009, 45047})
BUSY = -1  # "system busy": try again
ANSWER_BYTES = 16 * 1024


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in: int  # seconds


def errcode_of(answer: dict[str, Any]) -> int:
    code = answer.get("errcode", 0)
    return code if isinstance(code, int) else BUSY


def errmsg_of(answer: dict[str, Any]) -> str:
    return str(answer.get("errmsg", ""))[:200]


class WeChatApi:
    """The HTTP calls, on a session the caller owns (closed by it)."""

    connect_timeout = 5.0
    total_timeout = 10.0

    def __init__(self, session: aiohttp.ClientSession, *, base_url: str) -> None:
        self._session = session
        self._base = base_url.rstrip("/")

    async def stable_token(self, appid: str, secret: str, *, force_refresh: bool) -> dict[str, Any]:
        body = {
            "grant_type": "client_credential",
            "appid": appid,
            "secret": secret,
            "force_refresh": force_refresh,
        }
        return await self._post("/cgi-bin/stable_token", body)

    async def create_scene_qrcode(self, access_token: str, scene: str, *, seconds: int) -> dict[str, Any]:
        body = {
            "expire_seconds": seconds,
            "action_name": "QR_STR_SCENE",
            "action_info": {"scene": {"scene_str": scene}},
        }
        return await self._post("/cgi-bin/qrcode/create", body, access_token=access_token)

    async def send_template(self, access_token: str, message: dict[str, Any]) -> dict[str, Any]:
        return await self._post("/cgi-bin/message/template/send", message, access_token=access_token)

    async def _post(
        self, path: str, body: dict[str, Any], *, access_token: str | None = None
    ) -> dict[str, Any]:
        url = f"{self._base}{path}"
        if access_token is not None:
            url += f"?access_token={quote(access_token, safe='')}"
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        timeout = aiohttp.ClientTimeout(total=self.total_timeout, connect=self.connect_timeout)
        try:
            async with self._session.post(
                url,
                data=data,
                headers={"Content-Type": "application/json; charset=utf-8"},
                timeout=timeout,
                allow_redirects=False,
            ) as response:
                status = response.status
                raw = await response.content.read(ANSWER_BYTES)
        except TimeoutError as error:
            raise TransientError(f"WeChat API timed out after {self.total_timeout:g}s") from error
        except (aiohttp.ClientError, OSError) as error:
            raise TransientError(f"WeChat API unreachable: {type(error).__name__}: {error}") from error
        if status >= 500 or status == 429:
            raise TransientError(f"WeChat API answered HTTP {status}")
        if status != 200:
            # Not WeChat's answer (a wrong API base, a proxy refusing us): no retry changes that.
            raise PermanentError(f"WeChat API answered HTTP {status}")
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise TransientError("WeChat API answered something that is not its JSON")
        return answer
