"""Stored samples of every bus-message version: a change that breaks a published shape fails here.

A sample is written once, when a version is introduced, and never edited: messages of that version may
still sit in queues during a rollout, and consumers must keep reading them. Samples are named
`<type>.v<version>.json`; a model whose routing key depends on its content (one key per push way) is
checked to reach a queue of the topology with its sample's content.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.bus.port import topic_matches
from shared.messages.base import BusMessage
from shared.topology import QUEUES

SAMPLES = Path(__file__).parent / "samples"
MODELS: dict[str, type[BusMessage]] = {
    f"{model.TYPE}.v{model.VERSION}": model for queue in QUEUES for model in queue.models
}


def test_every_model_on_the_bus_has_a_sample() -> None:
    assert sorted(MODELS) == sorted(path.stem for path in SAMPLES.glob("*.json"))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_sample_still_validates_and_round_trips(name: str) -> None:
    stored = json.loads((SAMPLES / f"{name}.json").read_text())
    message = MODELS[name].model_validate(stored)
    assert json.loads(message.model_dump_json()) == stored
    bound = [
        queue.name
        for queue in QUEUES
        if type(message) in queue.models
        and any(
            topic_matches(pattern, message.routing_key)
            for pattern in (queue.routing_keys or [model.routing_key_for() for model in queue.models])
        )
    ]
    assert bound, f"no queue of the topology takes {message.routing_key}"
