"""Stored samples of every bus-message version: a change that breaks a published shape fails here.

A sample is written once, when a version is introduced, and never edited: messages of that version may
still sit in queues during a rollout, and consumers must keep reading them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.messages.base import BusMessage
from shared.topology import QUEUES

SAMPLES = Path(__file__).parent / "samples"
MODELS: dict[str, type[BusMessage]] = {
    model.routing_key_for(): model for queue in QUEUES for model in queue.models
}


def test_every_model_on_the_bus_has_a_sample() -> None:
    assert sorted(MODELS) == sorted(path.stem for path in SAMPLES.glob("*.json"))


@pytest.mark.parametrize("routing_key", sorted(MODELS))
def test_sample_still_validates_and_round_trips(routing_key: str) -> None:
    stored = json.loads((SAMPLES / f"{routing_key}.json").read_text())
    message = MODELS[routing_key].model_validate(stored)
    assert message.routing_key == routing_key
    assert json.loads(message.model_dump_json()) == stored
