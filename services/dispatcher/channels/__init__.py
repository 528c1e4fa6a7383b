"""Delivery channels, one module per push way (Bark, e-mail, WeChat, webhook), behind `base.Channel`.

`open_channels` builds every channel this release has; the dispatcher runs one consumer per channel.
Its names are the push ways of `shared.topology.DELIVERY_WAYS`.
"""

from __future__ import annotations

import aiohttp

from services.dispatcher.channels.base import Channel
from services.dispatcher.channels.webhook import WebhookChannel


def open_channels(session: aiohttp.ClientSession) -> dict[str, Channel]:
    """The channels, by way; they share the process's pooled HTTP session."""
    channels: list[Channel] = [WebhookChannel(session)]
    return {channel.name: channel for channel in channels}
