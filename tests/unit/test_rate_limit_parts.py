"""The small parts of rate limiting and of the key cache's invalidation, without a store."""

from __future__ import annotations

import asyncio
from ipaddress import ip_network
from typing import Any

import pytest
from pydantic import ValidationError

from services.gateway.key_cache import forget_changed_keys
from services.gateway.push_limits import PushLimits
from shared.data.keys import PushKey
from shared.envelope import ApiError, Ret, not_found
from shared.messages.keys import KeysChangedV1
from shared.rate_limit import Limit, RateLimiter, Refusal, client_subject
from shared.settings import Settings
from shared.ttl_cache import TtlCache


@pytest.mark.parametrize(
    ("address", "subject"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2::7", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
        ("::ffff:198.51.100.1", "198.51.100.1"),
        ("fe80::1%eth0", "fe80::/64"),
        ("unknown", "unknown"),
    ],
)
def test_client_subject(address: str, subject: str) -> None:
    assert client_subject(address) == subject


def test_exempt_networks() -> None:
    limiter = RateLimiter(
        object(),  # type: ignore[arg-type]  # never touched: no check is made
        exempt=(ip_network("10.0.0.0/8"), ip_network("2001:db8::/32")),
    )
    assert limiter.is_exempt("10.9.8.7")
    assert limiter.is_exempt("::ffff:10.0.0.1")
    assert limiter.is_exempt("2001:db8:5::1")
    assert not limiter.is_exempt("11.0.0.1")
    assert not limiter.is_exempt("not an address")


@pytest.mark.parametrize(("count", "period"), [(-1, 60.0), (1_000_001, 60.0), (5, 0.0), (5, -1.0)])
def test_limits_refuse_nonsense(count: int, period: float) -> None:
    with pytest.raises(ValueError):
        Limit("x", count, period)


def test_slot_arithmetic() -> None:
    limit = Limit("x", 7, 60.0)  # slots of 8571.43 ms
    assert limit.slot_at(0) == 0 and limit.slot_at(8571) == 0 and limit.slot_at(8572) == 1
    assert limit.slot_start(1) == 8572 and limit.slot_start(7) == 60_000


def test_push_limit_settings() -> None:
    defaults = Settings()
    assert (defaults.push_rate_per_key, defaults.push_rate_per_ip, defaults.rate_limit_exempt) == (
        120,
        600,
        (),
    )
    for bad in ({"push_rate_per_key": -1}, {"push_rate_per_ip": 2_000_000}, {"key_cache_ttl_seconds": 0}):
        with pytest.raises(ValidationError):
            Settings(**bad)  # type: ignore[arg-type]


def push_key(value: str, user_id: str) -> PushKey:
    return PushKey(value=value, user_id=user_id, kind="fixed", status="active", name=None, expires_at=None)


async def test_invalidation_by_user_or_by_key() -> None:
    known = {v: push_key(v, "u1" if v < "c" else "u2") for v in ("a", "b", "c", "d")}

    async def load(value: str) -> PushKey | None:
        return known.get(value)

    cache = TtlCache(load, ttl_seconds=3600)
    for value in known:
        await cache.get(value)
    known.update({v: push_key(v, "gone") for v in known})  # the store changed behind the cache
    assert forget_changed_keys(cache, KeysChangedV1(user_id="u2", keys=("c",))) == 1
    assert (await cache.get("c")).user_id == "gone"  # type: ignore[union-attr]
    assert (await cache.get("d")).user_id == "u2"  # type: ignore[union-attr]  # not named: kept
    assert forget_changed_keys(cache, KeysChangedV1(user_id="u1")) == 2
    assert [(await cache.get(v)).user_id for v in "abd"] == ["gone", "gone", "u2"]  # type: ignore[union-attr]


async def test_a_load_under_way_during_an_invalidation_is_not_kept() -> None:
    gate = asyncio.Event()
    version = 1

    async def load(value: str) -> int:
        seen = version
        await gate.wait()
        return seen

    cache: TtlCache[str, int] = TtlCache(load, ttl_seconds=3600)
    slow = asyncio.create_task(cache.get("k"))
    await asyncio.sleep(0)
    version = 2
    cache.invalidate("k")  # announced while the read of version 1 was in flight
    gate.set()
    assert await slow == 1  # its caller gets what it read...
    assert await cache.get("k") == 2  # ...but the cache does not keep it


class CountingLimiter:
    """Stands in for `RateLimiter`: records each check, refuses the subjects it is told to."""

    def __init__(self, refuse: set[str]) -> None:
        self.refuse = refuse
        self.checked: list[tuple[str, str]] = []

    def is_exempt(self, client: str) -> bool:
        return client.startswith("10.")

    async def check(self, limit: Limit, subject: str) -> Refusal | None:
        self.checked.append((limit.name, subject))
        return Refusal(9) if subject in self.refuse else None


async def admit(limiter: CountingLimiter, key: str, client: str | None) -> Any:
    limits = PushLimits(limiter, per_key=5, per_ip=5)  # type: ignore[arg-type]

    async def resolve(value: str) -> PushKey:
        if value == "unknown":
            raise not_found("unknown push key")
        return push_key(value, "u1")

    return await limits.admit(key, client, resolve)


async def test_push_limits_count_key_and_client() -> None:
    limiter = CountingLimiter(refuse=set())
    assert (await admit(limiter, "k1", "203.0.113.1")).value == "k1"
    assert sorted(limiter.checked) == [("push-ip", "203.0.113.1"), ("push-key", "k1")]
    # An unknown key counts against the client only, and the answer stays "not found" under the limit.
    limiter.checked.clear()
    with pytest.raises(ApiError) as unknown:
        await admit(limiter, "unknown", "2001:db8::1")
    assert unknown.value.ret == Ret.NOT_FOUND
    assert limiter.checked == [("push-ip", "2001:db8::/64")]
    # Exempt clients are not counted at all; pushes not over HTTP count against their key only.
    limiter.checked.clear()
    await admit(limiter, "k1", "10.0.0.1")
    await admit(limiter, "k2", None)
    assert limiter.checked == [("push-key", "k2")]


async def test_push_limits_refuse_with_retry_after() -> None:
    for refused, reason in (("k1", "key"), ("203.0.113.1", "address")):
        with pytest.raises(ApiError) as error:
            await admit(CountingLimiter(refuse={refused}), "k1", "203.0.113.1")
        assert (error.value.ret, error.value.http_status) == (Ret.RATE_LIMITED, 429)
        assert error.value.headers == {"Retry-After": "9"}
        assert reason in error.value.reason
    with pytest.raises(ApiError) as guessing:
        await admit(CountingLimiter(refuse={"203.0.113.1"}), "unknown", "203.0.113.1")
    assert guessing.value.ret == Ret.RATE_LIMITED  # over the limit, a guesser hears 429, not 404
