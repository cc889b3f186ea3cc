"""The routing mesh's table as the nodes are sent it: versioned changes, not the whole
table each time (ingress.py computes the table).

Rules:
- The dispatcher numbers each table it computes that differs from the one before
  (``IngressFeed.version``: 1 is the empty table it starts with).
- A session is sent, in its first frame and in its next frame after each change, a
  ``TableChange`` from the version its last frame brought (``base``) to the current one:
  per port the backends added and removed, ports opened (with all their backends), ports
  closed; or a full table (``base`` 0: the node replaces its own) when it has none (a new
  session) or is behind by more than the ``HISTORY`` versions the feed keeps. A frame
  brings nothing when the session has the current version.
- One change object per base, diffed and encoded once (``TableChange.encoded``) however
  many sessions are sent it: with 1,000 sessions on the same version, a task that starts
  costs one diff and one encoding of a backend, and ~40 bytes a session.
- A node applies a change only on the version it names (``apply_change``; a full table
  on anything); another means it missed one (it cannot: a session's frames come in order
  and a lost frame ends the session), so it ends its session, and the next session's
  first frame brings a full table.
- A node of the earlier version, whose session request does not name ``mesh``, is sent
  the whole table in the frame's ``ingress`` field instead, as before (ingress.py
  ``encode_table``, at most ``LEGACY_MAX_BACKENDS`` backends a port).
- Bounds, checked by the node on the change's lists (``parse_change``) and on the table it
  leaves (``apply_change``): ingress.py's ``MAX_INGRESS_PORTS``, ``MAX_BACKENDS`` and
  ``MAX_TABLE_BACKENDS``.
Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final

import msgpack

from actors.dispatcher.ingress import (
    MAX_BACKENDS,
    MAX_INGRESS_PORTS,
    MAX_TABLE_BACKENDS,
    IngressBackend,
    IngressPort,
    PortKey,
    encode_backends,
    parse_backends,
    parse_port,
    parse_port_head,
    parse_protocol,
)
from api.enums import PortProtocol

__all__ = [
    "ENDED_SLACK",
    "HISTORY",
    "MESH_CHANGES",
    "IngressFeed",
    "PortChange",
    "TableChange",
    "apply_change",
    "diff_tables",
    "full_change",
    "parse_change",
    "reads_changes",
]

HISTORY: Final = 8  # table versions the feed keeps to diff a lagging session from
# sessions the feed may remember past twice the live ones before it forgets the ended ones
ENDED_SLACK: Final = 64
# the session request's ``mesh``: the node reads the table as changes (this module)
MESH_CHANGES: Final = 1

Table = Mapping[PortKey, IngressPort]


@dataclass(frozen=True, slots=True)
class PortChange:
    """A port opened (``added``: all its backends) or changed."""

    port: int
    protocol: PortProtocol
    service: str
    added: tuple[IngressBackend, ...] = ()
    removed: tuple[IngressBackend, ...] = ()

    @property
    def key(self) -> PortKey:
        return (self.protocol, self.port)


@dataclass(frozen=True)
class TableChange:
    version: int  # the table's version once applied
    base: int  # the version it applies to; 0: a full table, which replaces any
    ports: tuple[PortChange, ...] = ()
    closed: tuple[PortKey, ...] = ()

    @property
    def full(self) -> bool:
        return self.base == 0

    @cached_property
    def encoded(self) -> dict[str, Any]:
        """The frame field (built once: every session at this base is sent this object)."""
        ports = []
        for p in self.ports:
            item: dict[str, Any] = {
                "port": p.port,
                "protocol": p.protocol.value,
                "service": p.service,
                "add": encode_backends(p.added),
            }
            if p.removed:
                item["remove"] = encode_backends(p.removed)
            ports.append(item)
        out: dict[str, Any] = {"version": self.version, "base": self.base, "ports": ports}
        if self.closed:
            out["closed"] = [[protocol.value, port] for protocol, port in self.closed]
        return out

    @cached_property
    def size(self) -> int:
        """Its bytes in a frame (msgpack), for the feed's count of bytes sent."""
        return len(msgpack.packb(self.encoded))


def reads_changes(session_request: Mapping[str, Any]) -> bool:
    """Whether the node that sent ``session_request`` reads the table as changes."""
    value = session_request.get("mesh")
    return isinstance(value, int) and not isinstance(value, bool) and value >= MESH_CHANGES


def full_change(table: Table, version: int) -> TableChange:
    ports = tuple(
        PortChange(e.port, e.protocol, e.service, e.backends) for _, e in sorted(table.items())
    )
    return TableChange(version, 0, ports)


def diff_tables(old: Table, new: Table, version: int, base: int) -> TableChange:
    """What turns ``old`` (version ``base``) into ``new`` (version ``version``)."""
    ports: list[PortChange] = []
    for key in sorted(new):
        entry = new[key]
        prev = old.get(key)
        if prev is None:
            ports.append(PortChange(entry.port, entry.protocol, entry.service, entry.backends))
        elif prev != entry:
            had, has = set(prev.backends), set(entry.backends)
            ports.append(
                PortChange(
                    entry.port,
                    entry.protocol,
                    entry.service,
                    tuple(b for b in entry.backends if b not in had),
                    tuple(b for b in prev.backends if b not in has),
                )
            )
    closed = tuple(sorted(key for key in old if key not in new))
    return TableChange(version, base, tuple(ports), closed)


def apply_change(table: Table, change: TableChange) -> dict[PortKey, IngressPort]:
    """``table`` with ``change`` applied (a new dict); ValueError past the bounds. The
    caller checks the versions (a full change applies to anything)."""
    out: dict[PortKey, IngressPort] = {} if change.full else dict(table)
    for key in change.closed:
        out.pop(key, None)
    for p in change.ports:
        prev = out.get(p.key)
        if prev is None:
            backends = dict.fromkeys(p.added)
        else:
            gone = set(p.removed)
            backends = dict.fromkeys(b for b in prev.backends if b not in gone)
            backends.update(dict.fromkeys(p.added))
        if len(backends) > MAX_BACKENDS:
            raise ValueError(f"mesh: port {p.port}/{p.protocol}: over {MAX_BACKENDS} backends")
        out[p.key] = IngressPort(p.port, p.protocol, p.service, tuple(backends))
    if len(out) > MAX_INGRESS_PORTS:
        raise ValueError(f"mesh: over {MAX_INGRESS_PORTS} ports")
    if sum(len(e.backends) for e in out.values()) > MAX_TABLE_BACKENDS:
        raise ValueError(f"mesh: over {MAX_TABLE_BACKENDS} backends in all")
    return out


def _count(value: Any, where: str, low: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{where}: an integer of at least {low}")
    return value


def _bounded_list(value: Any, where: str, limit: int) -> list[Any]:
    if not isinstance(value, list) or len(value) > limit:
        raise ValueError(f"{where}: a list of at most {limit}")
    return value


def parse_change(raw: Any) -> TableChange:
    """A frame's ``mesh`` field, checked: shape, bounds, ports, addresses; ValueError
    names what is wrong."""
    if not isinstance(raw, dict):
        raise ValueError("mesh: not a map")
    version = _count(raw.get("version"), "mesh.version", 1)
    base = _count(raw.get("base"), "mesh.base", 0)
    if base >= version:
        raise ValueError(f"mesh: base {base} is not before version {version}")
    ports: list[PortChange] = []
    seen: set[PortKey] = set()
    for i, item in enumerate(_bounded_list(raw.get("ports"), "mesh.ports", MAX_INGRESS_PORTS)):
        where = f"mesh.ports[{i}]"
        port, protocol, service = parse_port_head(item, where, seen)
        added = _bounded_list(item.get("add"), f"{where}.add", MAX_BACKENDS)
        removed = _bounded_list(item.get("remove", []), f"{where}.remove", MAX_BACKENDS)
        if removed and base == 0:
            raise ValueError(f"{where}.remove: a full table removes nothing")
        ports.append(
            PortChange(
                port,
                protocol,
                service,
                parse_backends(added, f"{where}.add"),
                parse_backends(removed, f"{where}.remove"),
            )
        )
    closed: list[PortKey] = []
    for i, item in enumerate(
        _bounded_list(raw.get("closed", []), "mesh.closed", MAX_INGRESS_PORTS)
    ):
        where = f"mesh.closed[{i}]"
        if not isinstance(item, list) or len(item) != 2:
            raise ValueError(f"{where}: [protocol, port]")
        closed.append((parse_protocol(item[0], where), parse_port(item[1], where)))
    if closed and base == 0:
        raise ValueError("mesh.closed: a full table closes nothing")
    return TableChange(version, base, tuple(ports), tuple(closed))


class IngressFeed:
    """The table as last computed, its last ``history`` versions, and the version each
    session's frames have brought it (by session id)."""

    def __init__(self, history: int = HISTORY) -> None:
        self.version = 1
        self.table: tuple[IngressPort, ...] = ()
        self._history: dict[int, dict[PortKey, IngressPort]] = {1: {}}
        self._keep = max(1, history)
        self._changes: dict[int, TableChange] = {}  # base -> its change to ``version``
        self._sent: dict[str, int] = {}
        self._reads_changes: set[str] = set()
        # what ``to_send`` has handed out: changes (full ones among them) and their bytes
        self.sent_changes = 0
        self.sent_full = 0
        self.sent_bytes = 0

    def opened(self, session_id: str, reads_changes: bool) -> None:
        """A session opened; whether its node reads changes (else the whole table)."""
        if reads_changes:
            self._reads_changes.add(session_id)

    def set_table(self, table: tuple[IngressPort, ...]) -> bool:
        """Keep ``table`` as the next version if it differs from the one held; whether it
        did."""
        if table == self.table:
            return False
        self.table = table
        self.version += 1
        self._history[self.version] = {(e.protocol, e.port): e for e in table}
        for old in sorted(self._history)[: -self._keep]:
            del self._history[old]
        self._changes = {}
        return True

    def change_from(self, base: int) -> TableChange:
        """The change from version ``base`` (0: none) to the current one: a full table when
        ``base`` is no longer kept."""
        if base not in self._history:
            base = 0
        found = self._changes.get(base)
        if found is None:
            current = self._history[self.version]
            found = (
                full_change(current, self.version)
                if base == 0
                else diff_tables(self._history[base], current, self.version, base)
            )
            self._changes[base] = found
        return found

    def to_send(self, session_id: str) -> tuple[tuple[IngressPort, ...] | None, TableChange | None]:
        """What the session's next frame brings: the whole table (a node of the earlier
        version) or a change; (None, None) when it has the current version."""
        sent = self._sent.get(session_id, 0)
        if sent == self.version:
            return None, None
        self._sent[session_id] = self.version
        if session_id not in self._reads_changes:
            return self.table, None
        change = self.change_from(sent)
        self.sent_changes += 1
        self.sent_full += change.full
        self.sent_bytes += change.size
        return None, change

    def held(self) -> int:
        """How many sessions it remembers (ended ones too, until ``stale`` forgets them)."""
        return len(self._sent)

    def overgrown(self, sessions: int) -> bool:
        """Whether it remembers so many more sessions than the ``sessions`` live that the
        ended ones are to be forgotten (``stale``) now, not at the next change of the
        table, which can be long in coming while sessions come and go."""
        return len(self._sent) > 2 * sessions + ENDED_SLACK

    def stale(self, session_ids: Iterable[str]) -> list[str]:
        """Of ``session_ids`` (the live sessions), those behind the current version; the
        others are forgotten."""
        live = set(session_ids)
        for gone in set(self._sent) - live:
            del self._sent[gone]
        self._reads_changes &= live
        return sorted(i for i in live if self._sent.get(i) != self.version)
