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

Rules (the limits: transport/stranger_limits.py):
- A stranger's handshake is refused when its source's strangers' connections already
  number ``source_connections``, or by the rates (transport/stranger_rates.py: a source's
  own bucket, and the all-sources bucket, whose last tokens are kept for sources within
  their share). A refusal takes no token. The counts are of connections labelled a
  stranger's (by ZAP, put right by frames).
- All sources' strangers' connections number at most ``connections``, shared fairly: when
  they are all taken, a newcomer whose source holds at least two fewer than the source
  holding the most takes the place of that source's oldest connection (`Admission.evicted`:
  the shell closes it); any other newcomer is refused. A swap never leaves the newcomer's
  source holding more than the evicted one's, so sources that are all full cannot churn
  each other, and a few sources holding every connection cannot keep out another: to do
  that, ``connections`` sources must each hold one. Which connection goes is a guess of
  the same kind as the lifetime's below (a member's handshake of that source may have
  swapped labels with it; its ZeroMQ then connects again); the oldest is chosen, as a
  peer that joins is done in a second and one that holds a slot holds it long.
- At its accept, a connection is closed when its source already holds
  ``source_unproven`` connections that showed no member's key (handshakes in flight,
  refused ones waiting out their handshake's timeout, strangers', and those closing, which
  hold their descriptors until their disconnects): each costs a descriptor before ZAP sees
  it, one that never finishes its handshake holds it until the handshake times out, and
  ZeroMQ aborts the process when it finds none left for a socket of its own (the control
  socket's next client, a new peer's connection). Members' connections that carried a
  frame are not counted.
- For the same reason, the endpoint's connections that showed no member's key (not
  closing) number at most `unproven_cap` (its ``unproven_share`` of the descriptors below
  the process's reserve, `descriptor_reserve` of ulimit -n), and none may take a reserved
  descriptor. Both are shared fairly, as the strangers' connections are: a newcomer past
  the cap, or on a reserved descriptor, whose source holds at least two fewer than the
  source holding the most takes the place of that source's oldest (one whose handshake
  was not a member's, if it holds any: `Admission.evicted`, which the shell closes); any
  other such newcomer is closed. So sources that fill the cap cannot keep out another:
  to do that, as many sources as the cap must each hold one. A newcomer left on a reserved
  descriptor is lent it (the one it took the place of frees another, below): an endpoint
  lends at most `reserve_lent` at once, and past that closes such newcomers whatever their
  source holds. The cap is what keeps what the evicted free from going to the heavy
  sources again, a lent descriptor at a time, until the reserve is spent.
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
- A connection the shell closes (`closing`) is no longer a stranger's, nor under the
  endpoint's cap (its place is free at once: it is shut down), but counts against its
  source's ``source_unproven`` until its disconnect (it holds its descriptor until then);
  its frames are not counted, its lifetime not watched, and a handshake taken for it is
  not judged (it was closed at its accept, or in a newcomer's place: judging it would
  count a refusal of a connection already going).
- State is bounded: a record per open connection (the process's descriptors bound them),
  the lifetimes of the connections accepted within one ``lifetime`` (in accept order,
  every one as long), the rates' buckets (transport/stranger_rates.py). Finding the source
  holding the most looks at none of the others (transport/by_source.py).
"""

from __future__ import annotations

from collections import Counter, deque

from transport.by_source import BySource
from transport.stranger_connection import ADMITTED, Admission, Connection, Label
from transport.stranger_limits import (
    DEFAULT_STRANGER_LIMITS,
    Refusal,
    StrangerLimits,
    descriptor_reserve,
    reserve_lent,
    source_of,
    unproven_cap,
)
from transport.stranger_rates import StrangerRates

__all__ = [
    "DEFAULT_STRANGER_LIMITS",
    "Admission",
    "Connection",
    "Label",
    "Refusal",
    "StrangerGate",
    "StrangerLimits",
    "descriptor_reserve",
    "reserve_lent",
    "source_of",
    "unproven_cap",
]


class StrangerGate:
    """The connections of one endpoint and the strangers' limits (the module's rules)."""

    def __init__(self, limits: StrangerLimits = DEFAULT_STRANGER_LIMITS) -> None:
        self.limits = limits
        self._open: dict[int, Connection] = {}  # by descriptor
        self._waiting: dict[str, deque[Connection]] = {}  # handshakes, by source, oldest first
        self._held: BySource[Connection] = BySource()  # strangers', not closing
        self._unproven: Counter[str] = Counter()  # showed no member's key, by source
        self._open_unproven: BySource[Connection] = BySource()  # those not closing
        self._lent = 0  # of those, how many hold a reserved descriptor (`crowded`)
        self._rates = StrangerRates(limits)
        self._lifetimes: deque[Connection] = deque()  # in accept order: by due

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

    def crowded(self, connection: Connection, descriptor_limit: int | None) -> Admission:
        """The word on ``connection``, just accepted (the module's rules): refused (the
        shell closes it at once), admitted, or admitted in another's place;
        ``descriptor_limit``: the process's (None: unlimited)."""
        source = connection.source
        limit = self.limits.source_unproven
        held = self._unproven[source]
        if held > limit:
            return Admission(
                Refusal(
                    "source_unproven",
                    f"{held - 1} connections that showed no member's key are open from "
                    f"{source} (at most {limit})",
                )
            )
        if descriptor_limit is None:
            return ADMITTED
        reserve = descriptor_reserve(descriptor_limit)
        reserved = connection.fd >= descriptor_limit - reserve
        if reserved:
            over = Refusal(
                "descriptors",
                f"it took descriptor {connection.fd} of the process's {descriptor_limit} "
                f"(ulimit -n), the last {reserve} of which are kept for its files and members",
            )
            if self._lent >= reserve_lent(descriptor_limit):
                return Admission(Refusal(over.code, f"{over.reason}; {self._lent} are lent"))
        else:
            cap = unproven_cap(descriptor_limit, self.limits.unproven_share)
            open_unproven = self._open_unproven.count()
            if open_unproven <= cap:
                return ADMITTED
            over = Refusal(
                "unproven",
                f"{open_unproven - 1} connections that showed no member's key are open (at "
                f"most {cap}, for the process's {descriptor_limit} descriptors)",
            )
        evicted = self._unproven_to_evict(source)
        if evicted is None:
            own = self._open_unproven.count(source) - 1
            why = f"{over.reason}, and no address holds two more than {source} ({own})"
            return Admission(Refusal(over.code, why))
        self.closing(evicted, "evicted")
        if reserved:
            self._count(connection, -1)
            connection.lent = True
            self._count(connection, 1)
        return Admission(evicted=evicted)

    def _unproven_to_evict(self, source: str) -> Connection | None:
        """The connection that showed no member's key a newcomer of ``source`` (counted)
        takes the place of: the oldest of a source holding the most, when ``source``
        held at least two fewer (its handshake a stranger's, if that source holds one);
        else None."""
        counts = self._open_unproven
        if counts.count(source) >= counts.most():
            return None
        heaviest = next(iter(counts.heaviest()))
        return min(counts.items(heaviest), key=lambda c: (c.label is Label.MEMBER, c.due))

    def closing(self, connection: Connection, code: str) -> None:
        """The shell shut ``connection`` down for ``code``; its disconnect is to come."""
        if connection.closing is None and self._open.get(connection.fd) is connection:
            self._count(connection, -1)
            connection.closing = code
            self._count(connection, 1)

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

    def admit(self, source: str, key: bytes, member: bool, now: float) -> Admission:
        """A handshake of ``source`` with ``key``, which the policy admitted: admitted (a
        member's always; a stranger's within the limits, maybe in another's place) or
        refused, and why."""
        connection = self._next_waiting(source)
        if connection is not None:
            connection.key = key
        if member:
            self._label(connection, Label.MEMBER)
            return ADMITTED
        if connection is not None and connection.closing is not None:
            self._label(connection, Label.STRANGER)  # shut already: not judged
            return ADMITTED
        refusal = self._refusal(source, now)
        evicted = None
        if refusal is None and self._held.count() >= self.limits.connections:
            evicted = self._evictable(source)
            if evicted is None:
                refusal = self._crowded(source)
        if refusal is not None:
            self._label(connection, Label.REFUSED)
            return Admission(refusal)
        if evicted is not None:
            self.closing(evicted, "evicted")
        self._rates.take(source, now)
        self._label(connection, Label.STRANGER)
        return Admission(evicted=evicted)

    def refused(self, source: str, key: bytes) -> None:
        """The policy refused a handshake of ``source``."""
        connection = self._next_waiting(source)
        if connection is not None:
            connection.key = key
        self._label(connection, Label.REFUSED)

    def _next_waiting(self, source: str) -> Connection | None:
        """The source's oldest connection waiting for its handshake, taken off the queue
        (none waits when its accept event was lost: the monitor's queue overflowed)."""
        waiting = self._waiting.get(source)
        if not waiting:
            return None
        connection = waiting.popleft()
        if not waiting:
            del self._waiting[source]
        return connection

    def _label(self, connection: Connection | None, label: Label) -> None:
        if connection is not None:
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
        source, fd, open_ = connection.source, connection.fd, connection.closing is None
        if connection.label is Label.STRANGER and open_:
            if sign > 0:
                self._held.add(source, fd, connection)
            else:
                self._held.remove(source, fd)
        if connection.label is not Label.MEMBER or not connection.proven:
            self._unproven[source] += sign
            if self._unproven[source] <= 0:
                del self._unproven[source]
            if open_:
                if sign > 0:
                    self._open_unproven.add(source, fd, connection)
                else:
                    self._open_unproven.remove(source, fd)
                if connection.lent:
                    self._lent += sign

    def _refusal(self, source: str, now: float) -> Refusal | None:
        limit = self.limits.source_connections
        held = self._held.count(source)
        if held >= limit:
            return Refusal(
                "source_connections",
                f"{held} connections without a certificate are open from {source} "
                f"(at most {limit})",
            )
        return self._rates.refusal(source, now)

    def _evictable(self, source: str) -> Connection | None:
        """The connection a newcomer of ``source`` takes the place of when all sources'
        are taken: the oldest of the sources holding the most, when ``source`` holds at
        least two fewer; else None."""
        held = self._held
        if held.count(source) + 1 >= held.most():
            return None
        heaviest = (c for heavy in held.heaviest() for c in held.items(heavy))
        return min(heaviest, key=lambda c: c.due)

    def _crowded(self, source: str) -> Refusal:
        held = self._held.count(source)
        return Refusal(
            "connections",
            f"{self._held.count()} connections without a certificate are open (at most "
            f"{self.limits.connections}), and no address holds two more than {source} ({held})",
        )

    # --- frames ------------------------------------------------------------------------

    def member_frame(self, fd: int, identity: bytes) -> Connection | None:
        """A member's frame came on ``fd``, the first its routing ``identity`` showed: the
        connection is a member's (its record; None: not known, or closing)."""
        connection = self._open.get(fd)
        if connection is None or connection.closing is not None:
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
        if connection is None or connection.closing is not None:
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
            if self._open.get(connection.fd) is not connection or connection.closing is not None:
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
        """Connections labelled a stranger's (from ``source``), not closing."""
        return self._held.count(source)

    def unproven(self, source: str) -> int:
        """Open connections from ``source`` that showed no member's key."""
        return self._unproven.get(source, 0)
