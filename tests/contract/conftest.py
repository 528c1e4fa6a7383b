"""The bus harness every bus contract test runs on: each adapter in turn (`tests/contract/bus_harness.py`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.contract.bus_harness import KINDS, Harness, open_harness


@pytest.fixture(params=KINDS)
async def harness(
    request: pytest.FixtureRequest, amqp_url: str, namespace: str, tmp_path: Path
) -> AsyncIterator[Harness]:
    async with open_harness(request.param, amqp_url, namespace, tmp_path) as harness:
        yield harness
