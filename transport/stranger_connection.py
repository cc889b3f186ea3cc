"""What the stranger gate (transport/strangers.py, whose rules these records serve) knows of
one connection, and its word on one (pure data)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from transport.stranger_limits import Refusal

__all__ = ["ADMITTED", "Admission", "Connection", "Label"]


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
    lent: bool = False  # it took a reserved descriptor in another's place (`StrangerGate.crowded`)
    closing: str | None = None  # the code the shell shut it down for (`StrangerGate.closing`)


@dataclass(frozen=True, slots=True)
class Admission:
    """The gate's word on a handshake or an accept: ``refusal`` (None: admitted), and the
    connection the newcomer takes the place of (``evicted``: the shell closes it)."""

    refusal: Refusal | None = None
    evicted: Connection | None = None


ADMITTED = Admission()
