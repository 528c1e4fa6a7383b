"""The delivery rules of quiet hours and read escalation, at any hour by a clock the test sets."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.dispatcher.clock import FixedClock, SystemClock
from services.dispatcher.rules import escalation_step, quiet_hold_seconds
from shared.data.delivery_preferences import QuietHours, parse_time_of_day

NIGHT = QuietHours("23:00", "07:00", "Asia/Shanghai")  # UTC+8, no DST


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("utc", "held"),
    [
        ("2024-05-01T14:59:59", 0.0),  # 22:59:59 in Shanghai
        ("2024-05-01T15:00:00", 8 * 3600.0),  # 23:00 exactly: held until 07:00
        ("2024-05-01T18:30:00", 4.5 * 3600),  # 02:30, after midnight
        ("2024-05-01T22:59:30", 30.0),  # 06:59:30
        ("2024-05-01T23:00:00", 0.0),  # 07:00: the end is not quiet
        ("2024-05-02T04:00:00", 0.0),  # noon
    ],
)
def test_quiet_hours_across_midnight_in_the_users_zone(utc: str, held: float) -> None:
    assert quiet_hold_seconds(NIGHT, FixedClock(at(utc)).now()) == held


def test_quiet_hours_within_one_day_and_with_seconds() -> None:
    lunch = QuietHours("12:00:00", "13:30:15", "UTC")
    assert quiet_hold_seconds(lunch, at("2024-05-01T13:30:00")) == 15.0
    assert quiet_hold_seconds(lunch, at("2024-05-01T11:59:59")) == 0.0
    assert quiet_hold_seconds(lunch, at("2024-05-01T13:30:15")) == 0.0


def test_daylight_saving_night_ends_by_the_local_clock() -> None:
    # Berlin springs forward on 2024-03-31 at 02:00: the night from 22:00 to 06:00 is one hour shorter.
    night = QuietHours("22:00", "06:00", "Europe/Berlin")
    assert quiet_hold_seconds(night, at("2024-03-30T21:00:00")) == 7 * 3600.0  # 22:00 CET to 06:00 CEST


def test_nothing_is_held_when_off_urgent_or_unreadable() -> None:
    now = at("2024-05-01T18:30:00")
    assert quiet_hold_seconds(None, now) == 0.0
    assert quiet_hold_seconds(QuietHours("23:00", "07:00", "Asia/Shanghai", enabled=False), now) == 0.0
    assert quiet_hold_seconds(NIGHT, now, urgent=True) == 0.0
    assert quiet_hold_seconds(QuietHours("23:00", "07:00", "Mars/Olympus"), now) == 0.0
    assert quiet_hold_seconds(QuietHours("25:00", "07:00", "UTC"), now) == 0.0
    assert quiet_hold_seconds(QuietHours("07:00", "07:00", "UTC"), now) == 0.0


def test_the_system_clock_moves_by_its_offset() -> None:
    ahead = SystemClock(offset_seconds=3600).now() - SystemClock().now()
    assert 3599 < ahead.total_seconds() < 3601


@pytest.mark.parametrize(
    "text",
    ["7:00", "24:00", "23:60", "23:00:60", "23:00 ", "\uff12\uff13:00", "1\uff15:00", "23:00\n", "23-00"],
)
def test_times_of_day_are_strict(text: str) -> None:
    assert parse_time_of_day(text) is None


@pytest.mark.parametrize(
    ("ways", "delivered_on", "tried", "expected"),
    [
        (["bark", "email", "webhook"], "bark", {"bark"}, ("email", ("webhook",))),
        (["bark", "email", "webhook"], "email", {"bark", "email"}, ("webhook", ())),
        (["bark", "email", "webhook"], "webhook", {"webhook"}, (None, ())),  # the last way: no step
        (["bark", "email", "webhook"], "bark", {"bark", "email"}, ("webhook", ())),  # tried already
        (["email", "webhook"], "bark", {"bark"}, ("email", ("webhook",))),  # bark unverified since
        (["bark"], "bark", {"bark"}, (None, ())),
    ],
)
def test_escalation_goes_to_the_next_untried_verified_way(
    ways: list[str], delivered_on: str, tried: set[str], expected: tuple[str | None, tuple[str, ...]]
) -> None:
    step = escalation_step(ways, delivered_on, tried)
    assert (step.way, step.remaining) == expected
