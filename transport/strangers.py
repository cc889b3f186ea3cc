"""How many connections a CURVE endpoint lets strangers hold, and for how long (pure: the
caller passes the time and the connections' descriptors; nothing here does I/O).

A stranger is a key ZAP admits but the admission policy does not call a member: a joining
node's fresh key on a manager's remote port, any key on the join-hello port. Members are
never refused here, and none of their connections is closed once it carried a frame.

What is known of a connection, and how surely (`StrangerGate`, fed by the endpoint's I/O
thread, which owns the socket's monitor, answers its ZAP requests and reads its frames):
- From the monitor, exactly: its descriptor and where it came from, from its accept to its
  disconnect.
- From ZAP, by guess: a ZAP request names the source address, not the connection, so it is
  taken for the handshake of that source's oldest connection still waiting for one (ZeroMQ
  sends a connection's accept event before its ZAP request, and the shell reads every
  pending event before it answers). Two handshakes of one source that end out of order
  swap their labels; the frames put them right.
- From its frames, exactly: each names its connection's descriptor and the key ZAP
  admitted on it. A connection's first frame from a member marks it a member's; a
  stranger's frame marks it a stranger's and is counted.

Rules:
- A source is an IPv4 address or an IPv6 /64 (what one subscriber holds).
- A stranger's handshake is refused when its source's strangers' connections already
  number ``source_connections``, when all sources' number ``connections``, or when its
  source's or the all-sources token bucket is empty (``source_rate`` new connections a
  second sustained, ``source_burst`` at once; ``rate`` and ``burst`` for all sources). A
  refusal takes no token. The counts are of connections labelled a stranger's (by ZAP,
  put right by frames).
- A connection is closed at its accept when its source already holds
  ``source_unproven`` connections that showed no member's key (handshakes in flight,
  refused ones waiting out their handshake's timeout, strangers'), or when its descriptor
  is within `descriptor_reserve` of the process's limit (ulimit -n): each costs a
  descriptor before ZAP sees it, one that never finishes its handshake holds it until the
  handshake times out, and ZeroMQ aborts the process when it finds none left for a
  socket of its own (the control socket's next client, a new peer's connection). Members'
  connections that carried a frame are not counted.
- A connection that carries a stranger's frame past ``frames`` is closed (a join takes two
  requests, a few more when the manager answers ``busy``).
- ``lifetime`` after its accept, a connection is closed unless it showed a member's key: a
  member's frame came on it, or the stranger's key its frames came with is a member's
  now (its join succeeded), or it sent nothing and its handshake (by the guess above) was
  a member's key that still is one. So a stranger that sends lives at most ``lifetime``,
  and one that never sends anything (a peer that only holds a slot) as long, unless a
  member's handshake of its source swapped labels with its own: such a connection counts
  against its source's ``source_unproven``. A member's client may say nothing for a long
  time after it connects (a follower's Raft connection to another follower, while the
  leader lives): closing it would cost a handshake a minute, and a message sent as it
  closed.
- State is bounded: a record per open connection (the process's descriptors bound them),
  the lifetimes of the connections accepted within one ``lifetime`` (in accept order,
  every one as long), a bucket per source admitted within the time a bucket takes to
  refill.
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
    "Label",
    "Refusal",
    "StrangerGate",
    "StrangerLimits",
    "TokenBucket",
    "descriptor_reserve",
    "source_of",
]

IPV6_PREFIX: Final = 64


@dataclass(frozen=True, slots=True)
class StrangerLimits:
    """What strangers may hold on one endpoint (the module's rules)."""

    source_connections: int = 16
    connections: int = 64
    source_rate: float = 100.0
    source_burst: int = 200
    rate: float = 400.0
    burst: int = 800
    frames: int = 32
    lifetime: float = 60.0
    source_unproven: int = 256

    def __post_init__(self) -> None:
        counts = (
            self.source_connections,
            self.connections,
            self.source_burst,
            self.burst,
            self.source_unproven,
        )
        if min(counts) < 1 or self.frames < 1:
            raise ValueError(f"stranger limits need counts of at least 1, got {self}")
        if self.source_rate <= 0 or self.rate <= 0 or self.lifetime <= 0:
            raise ValueError(f"stranger limits need positive rates and lifetime, got {self}")


# a manager's join path: 16 joins at once from one address (behind one NAT), 64 in all,
# 100 new a second from one address: bench/scale.py's fleet joins 8 at a time from one
# address, about 70 a second, and must not be slowed; 256 connections without a member's
# frame from one address: a fleet of hundreds of nodes behind it that all connect again
# at once (a new leader) mostly gets in, one cut off connects again 100 ms later
DEFAULT_STRANGER_LIMITS: Final = StrangerLimits()


def descriptor_reserve(limit: int) -> int:
    """The descriptors a process whose limit is ``limit`` keeps from connections that
    showed no member's key: a quarter, at least 64 and at most 1024 (ZeroMQ accepts on
    its own threads while the shell closes: a flood of raw connections against a limit
    of 1024 took up to 120 descriptors past the reserve's start before they were shut)."""
    return max(64, min(limit // 4, 1024))


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


class Label(enum.Enum):
    HANDSHAKE = "handshake"  # accepted, no ZAP answer taken for it yet
    MEMBER = "member"
    STRANGER = "stranger"
    REFUSED = "refused"


@dataclass(slots=True, eq=False)
class Connection:
    """One TCP connection of the endpoint, from its accept event to its disconnect."""

    fd: int
    source: str
    peer: str  # "address:port" as the accept saw it, for logs
    due: float  # when its lifetime ends
    label: Label = Label.HANDSHAKE
    key: bytes | None = None  # the CURVE key: ZAP's guess, then its frames'
    proven: bool = False  # its label and key come from its frames
    frames: int = 0  # a stranger's frames counted
    identity: bytes | None = None  # its routing id, once a member's frame named it


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a stranger's handshake was refused: ``code`` for the metric, ``reason`` for
    the log."""

    code: str
    reason: str


class StrangerGate:
    """The connections of one endpoint and the strangers' limits (the module's rules)."""

    def __init__(self, limits: StrangerLimits = DEFAULT_STRANGER_LIMITS) -> None:
        self.limits = limits
        self._open: dict[int, Connection] = {}  # by descriptor
        self._waiting: dict[str, deque[Connection]] = {}  # handshakes, by source, oldest first
        self._strangers: Counter[str] = Counter()  # labelled a stranger's, by source
        self._total = 0  # and from all sources
        self._unproven: Counter[str] = Counter()  # showed no member's key, by source
        self._buckets: dict[str, TokenBucket] = {}
        self._bucket: TokenBucket | None = None  # all sources'
        self._lifetimes: deque[Connection] = deque()  # in accept order: by due
        self._pruned_at = 0.0

    # --- connections, from the monitor ---------------------------------------------------

    def accepted(self, fd: int, source: str, peer: str, now: float) -> Connection:
        """A connection was accepted on descriptor ``fd`` from ``source``."""
        if fd in self._open:  # its disconnect event was lost: the descriptor was reused
            self.closed(fd)
        connection = Connection(fd, source, peer or source, now + self.limits.lifetime)
        self._open[fd] = connection
        self._waiting.setdefault(source, deque()).append(connection)
        self._lifetimes.append(connection)
        self._count(connection, 1)
        return connection

    def crowded(self, connection: Connection, descriptor_limit: int | None) -> Refusal | None:
        """Why ``connection``, just accepted, is closed at once (the module's rules), or None;
        ``descriptor_limit``: the process's (None: unlimited)."""
        limit = self.limits.source_unproven
        held = self._unproven[connection.source]
        if held > limit:
            return Refusal(
                "source_unproven",
                f"{held - 1} connections that showed no member's key are open from "
                f"{connection.source} (at most {limit})",
            )
        if descriptor_limit is not None:
            reserve = descriptor_reserve(descriptor_limit)
            if connection.fd >= descriptor_limit - reserve:
                return Refusal(
                    "descriptors",
                    f"it took descriptor {connection.fd} of the process's {descriptor_limit} "
                    f"(ulimit -n), the last {reserve} of which are kept for its files and "
                    "members",
                )
        return None

    def closed(self, fd: int) -> Connection | None:
        """The connection on ``fd`` ended; what it was (None: not known)."""
        connection = self._open.pop(fd, None)
        if connection is None:
            return None
        if connection.label is Label.HANDSHAKE:
            self._unwait(connection)
        self._count(connection, -1)
        return connection

    def connection(self, fd: int) -> Connection | None:
        return self._open.get(fd)

    # --- handshakes, from ZAP ------------------------------------------------------------

    def admit(self, source: str, key: bytes, member: bool, now: float) -> Refusal | None:
        """A handshake of ``source`` with ``key``, which the policy admitted: None (a
        member's always; a stranger's within the limits) or why it is refused."""
        if member:
            self._label_next(source, key, Label.MEMBER)
            return None
        refusal = self._refusal(source, now)
        if refusal is not None:
            self._label_next(source, key, Label.REFUSED)
            return refusal
        self._source_bucket(source, now).take()
        self._all_bucket(now).take()
        self._label_next(source, key, Label.STRANGER)
        return None

    def refused(self, source: str, key: bytes) -> None:
        """The policy refused a handshake of ``source``."""
        self._label_next(source, key, Label.REFUSED)

    def _label_next(self, source: str, key: bytes, label: Label) -> None:
        """Label the source's oldest waiting connection (none waits when its accept event
        was lost: the monitor's queue overflowed)."""
        waiting = self._waiting.get(source)
        if not waiting:
            return
        connection = waiting.popleft()
        if not waiting:
            del self._waiting[source]
        connection.key = key
        self._relabel(connection, label)

    def _unwait(self, connection: Connection) -> None:
        waiting = self._waiting.get(connection.source)
        if waiting is not None:
            waiting.remove(connection)
            if not waiting:
                del self._waiting[connection.source]

    def _relabel(self, connection: Connection, label: Label, proven: bool | None = None) -> None:
        """Give ``connection`` ``label`` (and ``proven``, unless None), keeping the counts."""
        self._count(connection, -1)
        connection.label = label
        if proven is not None:
            connection.proven = proven
        self._count(connection, 1)

    def _count(self, connection: Connection, sign: int) -> None:
        """Add ``connection`` to the counts it belongs to (``sign`` -1: take it out)."""
        source = connection.source
        if connection.label is Label.STRANGER:
            self._total += sign
            _add(self._strangers, source, sign)
        if connection.label is not Label.MEMBER or not connection.proven:
            _add(self._unproven, source, sign)

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

    # --- frames ------------------------------------------------------------------------

    def member_frame(self, fd: int, identity: bytes) -> Connection | None:
        """A member's frame came on ``fd``, the first its routing ``identity`` showed: the
        connection is a member's (its record; None: not known)."""
        connection = self._open.get(fd)
        if connection is None:
            return None
        if connection.label is Label.HANDSHAKE:
            self._unwait(connection)
        self._relabel(connection, Label.MEMBER, proven=True)
        connection.identity = identity
        return connection

    def stranger_frame(self, fd: int, key: bytes) -> Connection | None:
        """Count a stranger's frame that came on ``fd`` with ``key``; its connection when
        that frame is past its ``frames`` (the shell closes it), else None."""
        connection = self._open.get(fd)
        if connection is None:
            return None
        if not connection.proven or connection.label is not Label.STRANGER:
            if connection.label is Label.HANDSHAKE:
                self._unwait(connection)
            self._relabel(connection, Label.STRANGER, proven=True)
        connection.key = key
        connection.frames += 1
        # once: the frames queued behind it come before its disconnect event
        return connection if connection.frames == self.limits.frames + 1 else None

    # --- lifetimes -----------------------------------------------------------------------

    def overdue(self, now: float) -> list[Connection]:
        """The connections past their lifetime that showed no member's frame: the shell
        closes each, or keeps one whose key is a member's now (`joined` when its frames
        named that key)."""
        lifetimes = self._lifetimes
        found: list[Connection] = []
        while lifetimes and lifetimes[0].due <= now:
            connection = lifetimes.popleft()
            if self._open.get(connection.fd) is not connection:
                continue
            if connection.label is Label.MEMBER and connection.proven:
                continue
            found.append(connection)
        return found

    def joined(self, connection: Connection) -> None:
        """The key ``connection``'s frames came with is a member's now (its join
        succeeded): a member's connection."""
        self._relabel(connection, Label.MEMBER)

    def next_due(self) -> float | None:
        """When the oldest open connection's lifetime ends (None: none is open)."""
        lifetimes = self._lifetimes
        while lifetimes and self._open.get(lifetimes[0].fd) is not lifetimes[0]:
            lifetimes.popleft()
        return lifetimes[0].due if lifetimes else None

    # --- counts ----------------------------------------------------------------------------

    def strangers(self, source: str | None = None) -> int:
        """Connections labelled a stranger's (from ``source``)."""
        return self._total if source is None else self._strangers.get(source, 0)

    def unproven(self, source: str) -> int:
        """Open connections from ``source`` that showed no member's key."""
        return self._unproven.get(source, 0)


def _add(counts: Counter[str], source: str, sign: int) -> None:
    counts[source] += sign
    if counts[source] <= 0:
        del counts[source]
