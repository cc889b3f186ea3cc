"""How many connections a CURVE endpoint lets strangers hold, and for how long (pure: the
caller passes the time and the connections' descriptors; nothing here does I/O).

A stranger is a key ZAP admits but the admission policy does not call a member: a joining
node's fresh key on a manager's remote port, any key on the join-hello port. Members are
counted nowhere here and never refused by it.

Rules (`StrangerGate`, fed by the endpoint's I/O thread, which owns the socket's monitor
and answers its ZAP requests):
- A connection is known from its accept event (its descriptor and where it came from)
  until its disconnect event. A ZAP request names only the source address: it is the
  handshake of that source's oldest connection still waiting for its answer (ZeroMQ emits
  a connection's accept event before it sends that connection's ZAP request, and the
  shell reads every pending event before it answers).
- A source is an IPv4 address or an IPv6 /64 (what one subscriber holds).
- A stranger is refused when its source already has ``source_connections`` strangers'
  connections open, when all sources together have ``connections``, or when its source's
  or the all-sources token bucket is empty (``source_rate`` new connections a second
  sustained, ``source_burst`` at once; ``rate`` and ``burst`` for all sources). A refusal
  takes no token.
- A stranger's connection may carry ``frames`` frames and stay open ``lifetime`` seconds
  (a join takes two requests, a few more when the manager answers ``busy``); past either
  the shell closes it. A connection whose key became a member's meanwhile (its join
  succeeded) is a member's from then on.
- State is bounded: a record per open connection (the process's descriptors bound them),
  a bucket per source admitted within the time a bucket takes to refill, and the queue of
  lifetimes holds at most the strangers admitted within one ``lifetime``.
"""

from __future__ import annotations

import enum
import ipaddress
from collections import Counter, deque
from dataclasses import dataclass
from typing import Final

__all__ = [
    "DEFAULT_STRANGER_LIMITS",
    "Connection",
    "Refusal",
    "State",
    "StrangerGate",
    "StrangerLimits",
    "TokenBucket",
    "Welcome",
    "source_of",
]

IPV6_PREFIX: Final = 64


@dataclass(frozen=True, slots=True)
class StrangerLimits:
    """What strangers may hold on one endpoint (the module's rules)."""

    source_connections: int = 16
    connections: int = 64
    source_rate: float = 50.0
    source_burst: int = 100
    rate: float = 200.0
    burst: int = 400
    frames: int = 32
    lifetime: float = 60.0

    def __post_init__(self) -> None:
        counts = (self.source_connections, self.connections, self.source_burst, self.burst)
        if min(counts) < 1 or self.frames < 1:
            raise ValueError(f"stranger limits need counts of at least 1, got {self}")
        if self.source_rate <= 0 or self.rate <= 0 or self.lifetime <= 0:
            raise ValueError(f"stranger limits need positive rates and lifetime, got {self}")


# a manager's join path: 16 joins at once from one address (behind one NAT), 64 in all;
# bench/scale.py's fleet joins 8 at a time from one address, about 70 a second
DEFAULT_STRANGER_LIMITS: Final = StrangerLimits()


def source_of(address: str) -> str:
    """The source a peer address counts under: the IPv4 address, the IPv6 /64 (``a:b:c:d::/64``);
    any other text (not an IP address) as it is."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/{IPV6_PREFIX}", strict=False))
    return str(ip)


class TokenBucket:
    """``capacity`` tokens at most, refilled at ``rate`` a second; starts full."""

    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, capacity: int, rate: float, now: float) -> None:
        self.capacity = capacity
        self.rate = rate
        self.tokens = float(capacity)
        self.stamp = now

    def refill(self, now: float) -> float:
        """The tokens there are at ``now``."""
        if now > self.stamp:
            self.tokens = min(float(self.capacity), self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
        return self.tokens

    def take(self) -> None:
        self.tokens -= 1.0


class State(enum.Enum):
    HANDSHAKE = "handshake"  # accepted, its ZAP request not answered yet
    MEMBER = "member"
    STRANGER = "stranger"
    REFUSED = "refused"


@dataclass(slots=True, eq=False)
class Connection:
    """One TCP connection of the endpoint, from its accept event to its disconnect."""

    fd: int
    source: str
    peer: str  # "address:port" as the accept saw it, for logs
    state: State = State.HANDSHAKE
    key: bytes | None = None  # the CURVE key ZAP saw
    due: float = 0.0  # a stranger's: when its lifetime ends
    frames: int = 0  # a stranger's: frames counted


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a stranger's handshake was refused: ``code`` for the metric, ``reason`` for
    the log."""

    code: str
    reason: str


@dataclass(frozen=True, slots=True)
class Welcome:
    """An admitted handshake: its connection (None when none of its source was waiting,
    its accept event lost: the monitor's queue overflowed)."""

    connection: Connection | None


class StrangerGate:
    """The connections of one endpoint and the strangers' limits (the module's rules)."""

    def __init__(self, limits: StrangerLimits = DEFAULT_STRANGER_LIMITS) -> None:
        self.limits = limits
        self._open: dict[int, Connection] = {}  # by descriptor
        self._waiting: dict[str, deque[Connection]] = {}  # handshakes, by source, oldest first
        self._strangers: Counter[str] = Counter()  # strangers' connections open, by source
        self._total = 0  # and from all sources
        self._buckets: dict[str, TokenBucket] = {}
        self._bucket: TokenBucket | None = None  # all sources'
        self._lifetimes: deque[Connection] = deque()  # strangers, by due
        self._pruned_at = 0.0

    # --- connections, from the monitor ---------------------------------------------------

    def accepted(self, fd: int, source: str, peer: str = "") -> None:
        """A connection was accepted on descriptor ``fd`` from ``source``."""
        if fd in self._open:  # its disconnect event was lost: the descriptor was reused
            self.closed(fd)
        connection = Connection(fd, source, peer or source)
        self._open[fd] = connection
        self._waiting.setdefault(source, deque()).append(connection)

    def closed(self, fd: int) -> Connection | None:
        """The connection on ``fd`` ended; what it was (None: not known)."""
        connection = self._open.pop(fd, None)
        if connection is None:
            return None
        if connection.state is State.HANDSHAKE:
            waiting = self._waiting.get(connection.source)
            if waiting is not None:
                waiting.remove(connection)
                if not waiting:
                    del self._waiting[connection.source]
        elif connection.state is State.STRANGER:
            self._release(connection)
        return connection

    def connection(self, fd: int) -> Connection | None:
        return self._open.get(fd)

    # --- handshakes, from ZAP ------------------------------------------------------------

    def admit(self, source: str, key: bytes, member: bool, now: float) -> Refusal | Welcome:
        """The handshake of ``source``'s oldest waiting connection, with ``key`` that the
        policy admitted: a member's always; a stranger's within the limits."""
        connection = self._next_waiting(source)
        if connection is not None:
            connection.key = key
        if member:
            if connection is not None:
                connection.state = State.MEMBER
            return Welcome(connection)
        refusal = self._refusal(source, now)
        if refusal is not None:
            if connection is not None:
                connection.state = State.REFUSED
            return refusal
        self._source_bucket(source, now).take()
        self._all_bucket(now).take()
        if connection is not None:
            connection.state = State.STRANGER
            connection.due = now + self.limits.lifetime
            self._strangers[source] += 1
            self._total += 1
            self._lifetimes.append(connection)
        return Welcome(connection)

    def refused(self, source: str, key: bytes) -> None:
        """The policy refused the handshake of ``source``'s oldest waiting connection."""
        connection = self._next_waiting(source)
        if connection is not None:
            connection.key = key
            connection.state = State.REFUSED

    def _next_waiting(self, source: str) -> Connection | None:
        waiting = self._waiting.get(source)
        if not waiting:
            return None
        connection = waiting.popleft()
        if not waiting:
            del self._waiting[source]
        return connection

    def _refusal(self, source: str, now: float) -> Refusal | None:
        limits = self.limits
        held = self._strangers[source]
        if held >= limits.source_connections:
            return Refusal(
                "source_connections",
                f"{held} connections without a certificate are open from {source} "
                f"(at most {limits.source_connections})",
            )
        total = self._total
        if total >= limits.connections:
            return Refusal(
                "connections",
                f"{total} connections without a certificate are open "
                f"(at most {limits.connections})",
            )
        bucket = self._buckets.get(source)
        if bucket is not None and bucket.refill(now) < 1.0:
            return Refusal(
                "source_rate",
                f"more than {limits.source_burst} new connections without a certificate "
                f"from {source} at once, or {limits.source_rate:g} a second",
            )
        if self._all_bucket(now).refill(now) < 1.0:
            return Refusal(
                "rate",
                f"more than {limits.burst} new connections without a certificate at once, "
                f"or {limits.rate:g} a second",
            )
        return None

    def _source_bucket(self, source: str, now: float) -> TokenBucket:
        self._prune(now)
        bucket = self._buckets.get(source)
        if bucket is None:
            limits = self.limits
            bucket = self._buckets[source] = TokenBucket(
                limits.source_burst, limits.source_rate, now
            )
        return bucket

    def _all_bucket(self, now: float) -> TokenBucket:
        if self._bucket is None:
            self._bucket = TokenBucket(self.limits.burst, self.limits.rate, now)
        return self._bucket

    def _prune(self, now: float) -> None:
        """Forget the buckets that refilled, once per refill time: a bucket is made only
        for an admission, so at most ``burst + rate * refill`` are kept."""
        refill = self.limits.source_burst / self.limits.source_rate
        if now - self._pruned_at < refill:
            return
        self._pruned_at = now
        full = float(self.limits.source_burst)
        for source in [s for s, b in self._buckets.items() if b.refill(now) >= full]:
            del self._buckets[source]

    # --- what strangers do once admitted -------------------------------------------------

    def frame(self, fd: int) -> Connection | None:
        """Count a stranger's frame that came on ``fd``; its connection when that frame
        is over its ``frames`` (the shell closes it), else None."""
        connection = self._open.get(fd)
        if connection is None or connection.state is State.HANDSHAKE:
            return None
        connection.frames += 1
        # once: frames already queued behind it come before its disconnect event
        return connection if connection.frames == self.limits.frames + 1 else None

    def overdue(self, now: float) -> list[Connection]:
        """The strangers' connections open past their lifetime (the shell closes them, or
        calls `became_member` for one whose key is a member's now)."""
        lifetimes = self._lifetimes
        found: list[Connection] = []
        while lifetimes and lifetimes[0].due <= now:
            connection = lifetimes.popleft()
            if connection.state is State.STRANGER and self._open.get(connection.fd) is connection:
                found.append(connection)
        return found

    def next_due(self) -> float | None:
        """When the oldest stranger's lifetime ends (None: no stranger is open)."""
        lifetimes = self._lifetimes
        while lifetimes and (
            lifetimes[0].state is not State.STRANGER
            or self._open.get(lifetimes[0].fd) is not lifetimes[0]
        ):
            lifetimes.popleft()
        return lifetimes[0].due if lifetimes else None

    def became_member(self, connection: Connection) -> None:
        """``connection``'s key is a member's now: it no longer counts as a stranger's."""
        if connection.state is State.STRANGER:
            self._release(connection)
            connection.state = State.MEMBER

    def _release(self, connection: Connection) -> None:
        source = connection.source
        self._total -= 1
        self._strangers[source] -= 1
        if self._strangers[source] <= 0:
            del self._strangers[source]

    # --- counts ----------------------------------------------------------------------------

    def strangers(self, source: str | None = None) -> int:
        """Strangers' connections open (from ``source``)."""
        return self._total if source is None else self._strangers.get(source, 0)

    def open_connections(self) -> int:
        return len(self._open)
