"""What strangers may hold and how fast they may come, on one CURVE endpoint (pure data: the
gate that keeps to them is transport/strangers.py, its rates transport/stranger_rates.py).

A source is what one peer is taken to hold: an IPv4 address, an IPv6 /64 (what one
subscriber gets). Every limit but the all-sources ones is per source; the all-sources ones
are shared fairly (the gate's and the rates' rules), so a few sources that take all they
may cannot keep the others out.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Final

__all__ = [
    "DEFAULT_STRANGER_LIMITS",
    "IPV6_PREFIX",
    "Refusal",
    "StrangerLimits",
    "descriptor_reserve",
    "reserve_lent",
    "source_of",
    "unproven_cap",
]

IPV6_PREFIX: Final = 64


@dataclass(frozen=True, slots=True)
class StrangerLimits:
    """What strangers may hold on one endpoint (transport/strangers.py and
    transport/stranger_rates.py state the rules)."""

    source_connections: int = 16
    connections: int = 64
    source_rate: float = 100.0
    source_burst: int = 200
    rate: float = 400.0
    burst: int = 800
    share_rate: float = 8.0
    share_burst: int = 16
    reserve: int = 200
    frames: int = 32
    lifetime: float = 60.0
    source_unproven: int = 256
    unproven_share: float = 1 / 3

    def __post_init__(self) -> None:
        counts = (
            self.source_connections,
            self.connections,
            self.source_burst,
            self.burst,
            self.share_burst,
            self.source_unproven,
        )
        if min(counts) < 1 or self.frames < 1:
            raise ValueError(f"stranger limits need counts of at least 1, got {self}")
        rates = (self.source_rate, self.rate, self.share_rate, self.lifetime)
        if min(rates) <= 0:
            raise ValueError(f"stranger limits need positive rates and lifetime, got {self}")
        if not 0 < self.unproven_share <= 1:
            raise ValueError(f"stranger limits need an unproven share in (0, 1], got {self}")
        if not 0 <= self.reserve < self.burst:
            raise ValueError(
                f"stranger limits need a reserve of 0 to burst - 1 ({self.burst - 1}), got {self}"
            )


# a manager's join path: 16 joins at once from one address (behind one NAT), 64 in all,
# 100 new a second from one address: bench/scale.py's fleet joins 8 at a time from one
# address, about 70 a second, and must not be slowed; 256 connections without a member's
# frame from one address: a fleet of hundreds of nodes behind it that all connect again
# at once (a new leader) mostly gets in, one cut off connects again 100 ms later. The
# all-sources rate keeps its last quarter (200) for addresses within a share of 16 at
# once and 8 a second: a join takes one connection per port, so eight nodes behind one
# address joining at once fit, twice over; sources opening more than that can drain the
# rest, and 50 sources each within its share (400 / 8) are needed to drain the reserve;
# a third of the descriptors below the process's reserve for the connections that showed
# no member's key: a manager has two endpoints that take them (its remote and join-hello
# ports), so a flood of both leaves the last third and the reserve to its files and members
DEFAULT_STRANGER_LIMITS: Final = StrangerLimits()


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a stranger's handshake was refused, or a connection closed: ``code`` for the
    metric (``stranger.CODE``), ``reason`` for the log."""

    code: str
    reason: str


def descriptor_reserve(limit: int) -> int:
    """The descriptors a process whose limit is ``limit`` keeps from connections that
    showed no member's key: a quarter, at least 64 and at most 1024 (ZeroMQ accepts on
    its own threads while the shell closes: a flood of raw connections against a limit
    of 1024 took up to 120 descriptors past the reserve's start before they were shut)."""
    return max(64, min(limit // 4, 1024))


def unproven_cap(limit: int, share: float) -> int:
    """The connections that showed no member's key an endpoint whose share is ``share`` may
    hold at once in a process whose descriptor limit is ``limit``: that share of the
    descriptors below the reserve, at least one."""
    return max(1, int((limit - descriptor_reserve(limit)) * share))


def reserve_lent(limit: int) -> int:
    """The reserved descriptors an endpoint may leave to newcomers that took one in the place
    of a heavier address's connection: an eighth of the reserve (ZeroMQ's accepts run ahead
    of the shell's closes by up to 120 descriptors, and a manager has two such endpoints)."""
    return descriptor_reserve(limit) // 8


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
