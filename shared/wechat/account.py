"""The official account as the settings describe it: its API and its access token, or None when unset."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from shared.settings import Settings
from shared.store import Store
from shared.wechat.api import WeChatApi
from shared.wechat.token import AccessTokens


@dataclass(frozen=True)
class OfficialAccount:
    api: WeChatApi
    tokens: AccessTokens


def configured_account(
    store: Store, session: aiohttp.ClientSession, settings: Settings
) -> OfficialAccount | None:
    """The account when `IGOT_WECHAT_APPID` and `IGOT_WECHAT_SECRET` are set; None otherwise."""
    secret = settings.wechat_secret.get_secret_value()
    if not settings.wechat_appid or not secret:
        return None
    api = WeChatApi(session, base_url=settings.wechat_api_base)
    return OfficialAccount(api, AccessTokens(store, api, appid=settings.wechat_appid, secret=secret))


def open_api_session() -> aiohttp.ClientSession:
    """A session for the operator's WeChat API alone (auth has no other outbound calls to share one with)."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=30, connect=10),
        trust_env=False,
        auto_decompress=False,
        headers={"Accept-Encoding": "identity"},
    )
