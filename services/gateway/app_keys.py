"""App keys of the gateway's own resources."""

from __future__ import annotations

from aiohttp import web

from services.gateway.ingress import Ingress

INGRESS = web.AppKey("gateway.ingress", Ingress)
