"""Rate limits that hold across every process sharing the store: GCRA over time slots claimed by inserts.

A limit allows `count` uses per `period_seconds`, in bursts of up to `count`. Time is cut into slots of
one emission interval (`T = period / count`); slot `k` covers `[k·T, (k+1)·T)`. A use claims the lowest
free slot in the window `[now/T, now/T + count - 1]`, by inserting that slot's document with a unique
`_id` (`shared.data.rate_slots`): an idle subject can take the whole window at once (the burst), after
which one slot is added to the window every `T` (the rate). That is GCRA, with the theoretical arrival
time kept as "the slots already taken". No slot free in the window: refused, with `Retry-After` the time
until the window moves on by one slot.

Why inserts: an insert guarded by a unique `_id` is atomic on SQLite, on MongoDB and on the
MongoDB-compatible test server (which applies `$inc` and conditional updates as read-then-write, losing
concurrent changes across processes). So two gateways never admit the same slot, and a limit holds
across processes exactly, but for one thing: a window moves at fixed slot edges, so right after a
burst the next slot may open in less than `T`; over any stretch of time `L` a subject gets at most
`count + 1 + L/T` uses.

Each process remembers, per subject, the slot after the last one it saw taken (a hint, bounded in number);
slots of a window never come free again, so the usual check is one insert, and a subject hammering a
full window is refused with no store operation at all. Subjects are hashed before they reach the store
(push keys and addresses are not kept in the clear). A sweeper deletes slots a while after their time
has passed.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from shared.data import rate_slots
from shared.ids import now_ms
from shared.metrics import Metrics
from shared.periodic import Periodic
from shared.store import Store

IPV6_CLIENT_PREFIX = 64
MAX_COUNT = 1_000_000
HINTS_KEPT = 10_000
# Slots are swept this long after their time has passed, so that a process whose clock lags behind
# the sweeper's never finds a slot of its window deleted (and claims it a second time).
SWEEP_GRACE_MS = 60_000
SWEEP_SECONDS = 60.0
# Inserts lost to other processes before a use gives up (refused, try again in a second): each lost
# insert means another process was admitted, so this only bites under heavy contention.
MAX_ROUNDS = 8
READ_PAGE = 64

Network = IPv4Network | IPv6Network


@dataclass(frozen=True)
class Limit:
    """`count` uses per `period_seconds`, bursts up to `count`; `count` 0 turns the limit off."""

    name: str
    count: int
    period_seconds: float

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a limit needs a name")
        if not 0 <= self.count <= MAX_COUNT:
            raise ValueError(f"limit {self.name}: count must be between 0 and {MAX_COUNT}")
        if not self.period_seconds >= 0.001:
            raise ValueError(f"limit {self.name}: the period must be at least a millisecond")

    @property
    def period_ms(self) -> int:
        return max(1, round(self.period_seconds * 1000))

    def slot_at(self, at_ms: int) -> int:
        return at_ms * self.count // self.period_ms

    def slot_start(self, slot: int) -> int:
        """The first millisecond of `slot` (rounded up)."""
        return -(-slot * self.period_ms // self.count)


@dataclass(frozen=True)
class Refusal:
    """The use is refused; the caller may try again in `retry_after_seconds` (at least 1)."""

    retry_after_seconds: int


def client_subject(address: str) -> str:
    """What one client is counted as: an IPv4 address, the /64 of an IPv6 one, else the text itself."""
    ip = _ip(address)
    if ip is None:
        return address
    if isinstance(ip, IPv6Address):
        # one subscriber usually holds a whole /64: rotating addresses inside it is still one client
        return str(IPv6Network((ip, IPV6_CLIENT_PREFIX), strict=False))
    return str(ip)


def _ip(address: str) -> IPv4Address | IPv6Address | None:
    try:
        ip = ip_address(address.split("%", 1)[0])  # a zone index (fe80::1%eth0) names no other client
    except ValueError:
        return None
    if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def subject_digest(subject: str) -> str:
    return hashlib.sha256(subject.encode()).hexdigest()[:32]


class RateLimiter:
    """One per process (`shared.web.RATE_LIMITER`); clients in `exempt` networks are never limited."""

    def __init__(
        self,
        store: Store,
        *,
        exempt: Sequence[Network] = (),
        metrics: Metrics | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        """`clock` tells epoch milliseconds; processes sharing limits need clocks that roughly agree."""
        self._store = store
        self._clock = clock
        self._exempt = tuple(exempt)
        self._refused = (
            metrics.counter("igot_rate_limited", "Uses refused by a rate limit, by limit", ("limit",))
            if metrics is not None
            else None
        )
        self._hints: OrderedDict[str, int] = OrderedDict()
        self._sweeper = Periodic(
            "rate-limit-sweep",
            self.sweep_expired,
            interval_seconds=SWEEP_SECONDS,
            report="expired rate-limit slots deleted",
        )

    def start(self) -> None:
        self._sweeper.start()

    async def stop(self) -> None:
        await self._sweeper.stop()

    def is_exempt(self, client: str) -> bool:
        ip = _ip(client)
        return ip is not None and any(ip in network for network in self._exempt)

    async def check(self, limit: Limit, subject: str) -> Refusal | None:
        """Count one use of `limit` by `subject`; a `Refusal` when the limit is reached (nothing counted)."""
        if limit.count == 0:
            return None
        now = self._clock()
        first = limit.slot_at(now)
        last = first + limit.count - 1
        prefix = f"{limit.name}:{limit.count}:{limit.period_ms}:{subject_digest(subject)}"
        candidate = max(first, self._hints.get(prefix, first))
        for _ in range(MAX_ROUNDS):
            if candidate > last:
                return self._refuse(limit, now, first)
            # Reserved before the insert, so that this process's concurrent uses try the next slots.
            self._hint(prefix, candidate + 1)
            if await rate_slots.claim(
                self._store, prefix, candidate, expires_at=limit.slot_start(candidate + 1)
            ):
                return None
            free = await self._first_free(prefix, candidate + 1, last)
            self._hint(prefix, free)  # every slot below it was seen taken
            candidate = self._hints[prefix]
        return self._refuse(limit, now, first, retry_after_seconds=1)

    async def sweep_expired(self) -> int:
        return await rate_slots.delete_expired_before(self._store, self._clock() - SWEEP_GRACE_MS)

    async def _first_free(self, prefix: str, start: int, last: int) -> int:
        """The lowest slot from `start` that no process holds (`last + 1` when the window is full)."""
        candidate = start
        while candidate <= last:
            taken = await rate_slots.taken_from(self._store, prefix, candidate, last, limit=READ_PAGE)
            for slot in taken:
                if slot != candidate:
                    return candidate
                candidate += 1
            if len(taken) < READ_PAGE:
                break
        return candidate

    def _hint(self, prefix: str, next_slot: int) -> None:
        if self._hints.get(prefix, -1) < next_slot:
            self._hints[prefix] = next_slot
        self._hints.move_to_end(prefix)
        if len(self._hints) > HINTS_KEPT:
            self._hints.popitem(last=False)

    def _refuse(
        self, limit: Limit, now: int, first: int, *, retry_after_seconds: int | None = None
    ) -> Refusal:
        if self._refused is not None:
            self._refused.labels(limit=limit.name).inc()
        if retry_after_seconds is None:
            retry_after_seconds = math.ceil((limit.slot_start(first + 1) - now) / 1000)
        return Refusal(max(1, retry_after_seconds))
