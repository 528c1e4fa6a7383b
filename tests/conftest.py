"""Fixtures every level shares: where the real infrastructure is, and a fresh namespace per test run."""

from __future__ import annotations

import os
import uuid

import pytest

AMQP_URL = os.environ.get("IGOT_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
MONGO_URL = os.environ.get("IGOT_TEST_MONGO_URL", "mongodb://127.0.0.1:27017/")


@pytest.fixture
def amqp_url() -> str:
    return AMQP_URL


@pytest.fixture
def mongo_url() -> str:
    return MONGO_URL


@pytest.fixture
def namespace() -> str:
    """A name no other test uses: database names, exchange and queue prefixes."""
    return f"t{uuid.uuid4().hex[:12]}"
