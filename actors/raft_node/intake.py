"""Inbound Raft frames, from the inbox to `core.step`. Owned by the loop thread.

Rules:
- The frames of one round are stepped in (sender, seq) order.
- A frame whose sender is not the member of the key it came with is dropped and counted
  (senders.py), and so is a frame holding a message of another member; it is logged at
  most once a second.
- A batch too large for one frame comes as chunks, put back together here (frames.py
  rules); a first chunk from a member that is not the known leader is ignored, and a
  partial snapshot from a member that no longer leads is dropped (`leader_changed`).
- A frame that does not decode is dropped and logged; Raft resends what matters.
- While the log's disk has no room (``no_room``), entries and snapshots from the leader
  are dropped, counted and logged at most once a second: the member answers nothing, as
  a slow one would, and the leader sends them again once it answers (Raft is safe with a
  member that does not answer). Heartbeats and votes, which write little, are stepped.
  Without this a full disk crashed the loop at every attempt.
- ``last_heard`` (member -> clock time) feeds the status' reachability.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from actors.raft_node.commands import Receive
from actors.raft_node.core import RaftCore
from actors.raft_node.frames import Chunk, ChunkAssembler, ChunkRejected
from actors.raft_node.members import PeerTable
from actors.raft_node.senders import frame_refusal, stray_message
from actors.raft_node.wire import WireError, decode_batch
from api.limits import MAX_SNAPSHOT_BYTES
from transport.keys import fingerprint

__all__ = ["FrameIntake"]


class FrameIntake:
    def __init__(
        self,
        node_id: int,
        core: RaftCore,
        members: PeerTable,
        clock: Callable[[], float],
        log: Any,
        *,
        no_room: Callable[[], str | None] = lambda: None,
    ) -> None:
        self._id = node_id
        self._core = core
        self._members = members
        self._clock = clock
        self._log = log
        self._chunks = ChunkAssembler(MAX_SNAPSHOT_BYTES)
        self.last_heard: dict[int, float] = {}
        self.refused = 0  # frames dropped for their sender (senders.py)
        self._refusal_logged = float("-inf")
        self._no_room = no_room
        self.dropped_for_room = 0  # entry-bearing messages dropped on a full disk
        self._room_logged = float("-inf")

    def step(self, frames: Sequence[Receive]) -> None:
        """Step the messages of this round's frames into the core (the module's rules)."""
        core, me, heard = self._core, self._id, self.last_heard
        now = self._clock()
        if len(frames) > 1:
            frames = sorted(frames, key=lambda f: (f.src, f.seq))
        for frame in frames:
            src, batch, key = frame.src, frame.batch, frame.sender_key
            if key is not None:
                member_key = self._members.sender_key(src, core.conf_state)
                refusal = frame_refusal(src, me, key, member_key)
                if refusal is not None:
                    self._refuse(src, key, refusal)
                    continue
            if isinstance(batch, Chunk):
                heard[src] = now
                assembled = self._assemble(batch)
                if assembled is None:
                    continue
                data = assembled
            else:
                data = batch
            try:
                messages = decode_batch(data)
            except WireError as exc:
                self._log.warning("raft.frame.rejected", src=src, error=str(exc))
                continue
            stray = stray_message(src, messages)
            if stray is not None:
                self._refuse(src, key, stray)
                continue
            heard[src] = now
            for m in messages:
                if m.dst != me:
                    continue
                if (m.entries or m.snapshot is not None) and (why := self._no_room()):
                    self._drop_for_room(m.src, why, now)
                    continue
                core.step(m)

    def _drop_for_room(self, src: int, why: str, now: float) -> None:
        self.dropped_for_room += 1
        if now - self._room_logged >= 1.0:
            self._room_logged = now
            self._log.warning(
                "raft.entries.dropped", src=src, reason=why, dropped=self.dropped_for_room
            )

    def leader_changed(self, lead: int) -> None:
        if self._chunks.src not in (None, lead):
            self._chunks.drop()  # a snapshot from a member that no longer leads

    def _assemble(self, chunk: Chunk) -> bytes | None:
        """Feed a chunk to the assembler; the batch once complete."""
        lead = self._core.leader_id
        if chunk.offset == 0 and lead and chunk.src != lead:
            self._log.warning("raft.chunk.ignored", src=chunk.src, leader_id=lead)
            return None
        try:
            batch = self._chunks.add(chunk)
        except ChunkRejected as exc:
            self._log.warning("raft.chunk.rejected", src=chunk.src, error=str(exc))
            return None
        if batch is not None:
            self._log.info("raft.batch.assembled", src=chunk.src, bytes=len(batch))
        return batch

    def _refuse(self, src: int, key: bytes | None, reason: str) -> None:
        """Drop a frame for its sender: counted, logged at most once a second."""
        self.refused += 1
        now = self._clock()
        if now - self._refusal_logged >= 1.0:
            self._refusal_logged = now
            self._log.warning(
                "raft.frame.refused",
                src=src,
                key_fingerprint=fingerprint(key) if key else None,
                reason=reason,
                refused=self.refused,
            )
