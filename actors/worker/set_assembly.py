"""A full assignment set that comes in several frames, assembled before the node acts on
it, sans I/O. Both kinds of worker session use it: the agent's (agent_stream.py) and the
fleet's simulated nodes' (actors/node/fleet/session.py).

A manager sends a full set too big for one frame as parts (actors/dispatcher/
frame_packing.py), to a node whose session request says it takes them (``parts``). Acting
on the first part alone would be acting on half a set: the tasks it lacks would be shut
down, and started again a moment later.

Rules (`SetAssembly.take`):
- A frame that is no part (``parts`` 1) is handed on as it is, unless a set is being
  assembled: then the set is broken.
- Part 0 of ``parts`` starts a set; each next frame must be the next part of the same
  set (same ``parts``, same session); the last one completes it, and the set is handed on
  as one full frame (``parts``: how many frames it came in) holding every part's tasks,
  networks, credentials, secrets and configs in order, and the manager list, role and
  routing mesh its parts name (the first part carries them).
- What a node holds meanwhile is bounded: a set of more than ``max_parts`` parts
  (``MAX_SET_PARTS``: each part a frame within the frame limit, which the transport checks
  before decoding it) is refused at its first part.
- Anything else (a part out of order, a part missing, a part of a changes frame, a set
  of more parts than the bound) is refused with `SetRefused`, naming what came: the parts
  held are dropped and the session ends, so the next one starts with a fresh full set
  (the node's re-request, as for frames lost).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TypeVar

from actors.dispatcher.wire import MAX_SET_PARTS, SessionFrame
from actors.worker.session_calls import SessionEnded

__all__ = ["SetAssembly", "SetRefused"]

_T = TypeVar("_T")


class SetRefused(SessionEnded):
    """A full set's parts broke the rules: the session ends, for a fresh full set."""


def _first(values: list[_T | None]) -> _T | None:
    return next((v for v in values if v is not None), None)


class SetAssembly:
    """The parts of the set being assembled (the module's rules); one per session."""

    __slots__ = ("_max_parts", "_parts")

    def __init__(self, max_parts: int = MAX_SET_PARTS) -> None:
        self._max_parts = max_parts
        self._parts: list[SessionFrame] = []

    @property
    def held(self) -> int:
        """Parts held, of a set not complete yet."""
        return len(self._parts)

    def take(self, frame: SessionFrame) -> SessionFrame | None:
        """The frame to act on now: ``frame`` itself when it is no part, the whole set when
        it is a set's last part; None while parts are still to come."""
        held = self._parts
        if frame.parts == 1 and frame.part == 0:
            if held:
                self._refuse(f"a frame that is no part came after part {len(held) - 1}")
            return frame
        expected = len(held)
        if not frame.full:
            self._refuse(f"part {frame.part} of {frame.parts} of a frame of changes")
        if not 2 <= frame.parts <= self._max_parts:
            self._refuse(
                f"a set in {frame.parts} parts (a node takes a set in 2 to {self._max_parts} parts)"
            )
        if held and (frame.parts != held[0].parts or frame.session_id != held[0].session_id):
            self._refuse(
                f"part {frame.part} of {frame.parts} came while part {expected} of "
                f"{held[0].parts} was due"
            )
        if frame.part != expected:
            self._refuse(f"part {frame.part} of {frame.parts} came while part {expected} was due")
        held.append(frame)
        if len(held) < frame.parts:
            return None
        self._parts = []
        return self._whole(held)

    def _refuse(self, what: str) -> None:
        held = len(self._parts)
        self._parts = []
        raise SetRefused(
            f"a full assignment set in parts was refused: {what} (the {held} parts held "
            "were dropped; a new session brings a fresh full set)"
        )

    @staticmethod
    def _whole(parts: list[SessionFrame]) -> SessionFrame:
        """One full frame of a set's parts; a network or a service's credentials that
        several parts carry (each carries what its tasks need) once."""
        networks = {n.id: n for p in parts for n in p.networks}
        auths = {a.service_id: a for p in parts for a in p.registry_auths}
        return replace(
            parts[0],
            managers=next((p.managers for p in parts if p.managers), ()),
            tasks=tuple(t for p in parts for t in p.tasks),
            removed=tuple(r for p in parts for r in p.removed),
            networks=tuple(networks.values()),
            registry_auths=tuple(auths.values()),
            secrets=tuple(s for p in parts for s in p.secrets),
            secrets_removed=tuple(r for p in parts for r in p.secrets_removed),
            configs=tuple(c for p in parts for c in p.configs),
            configs_removed=tuple(r for p in parts for r in p.configs_removed),
            ingress=_first([p.ingress for p in parts]),
            mesh=_first([p.mesh for p in parts]),
            role=_first([p.role for p in parts]),
            part=0,
            parts=len(parts),
        )
