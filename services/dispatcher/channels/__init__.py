"""Delivery channels, one module per push way (Bark, e-mail, WeChat, webhook), behind `base.Channel`.

`open_channels` builds every channel this release has; the dispatcher runs one consumer per channel.
Its names are the push ways of `shared.topology.DELIVERY_WAYS`. The HTTP channels share the process's
pooled session; e-mail opens one SMTP connection per mail.
"""

from __future__ import annotations

import aiohttp

from services.dispatcher.channels.bark import BarkChannel
from services.dispatcher.channels.base import Channel
from services.dispatcher.channels.email import EmailChannel, SmtpConfig
from services.dispatcher.channels.webhook import WebhookChannel
from services.dispatcher.channels.wechat import WeChatChannel
from shared.data import push_ways
from shared.settings import Settings
from shared.store import Store
from shared.wechat.account import configured_account


def smtp_config(settings: Settings) -> SmtpConfig:
    return SmtpConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        user=settings.smtp_user,
        password=settings.smtp_password.get_secret_value(),
        sender=settings.smtp_from,
        tls=settings.smtp_tls,
        public_url=settings.public_url,
    )


def wechat_channel(session: aiohttp.ClientSession, settings: Settings, store: Store | None) -> WeChatChannel:
    """Without a store (or an account in the settings) the channel refuses every send for good."""
    account = configured_account(store, session, settings) if store is not None else None

    async def forget_recipient(openid: str) -> int:
        return await push_ways.unbind_wechat_by_openid(store, openid) if store is not None else 0

    return WeChatChannel(
        account,
        template_id=settings.wechat_template_id,
        public_url=settings.public_url,
        forget_recipient=forget_recipient,
    )


def open_channels(
    session: aiohttp.ClientSession, settings: Settings, store: Store | None = None
) -> dict[str, Channel]:
    """The channels, by way; the HTTP ones share the process's pooled session. WeChat keeps its access
    token in `store`."""
    channels: list[Channel] = [
        BarkChannel(session, default_server=settings.bark_server, icon=settings.bark_icon),
        EmailChannel(smtp_config(settings)),
        wechat_channel(session, settings, store),
        WebhookChannel(session),
    ]
    return {channel.name: channel for channel in channels}
