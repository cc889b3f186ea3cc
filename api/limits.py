"""Byte budgets of what the cluster stores and replicates, all derived from the frame limit.

A Raft entry must reach every follower in a frame, so every write has a budget well under
the frames that carry it, checked before it is proposed (``actors.store``) and again where
Raft takes proposals (``actors.raft_node``), so nothing can commit an entry that followers
cannot receive:

    frame   16 MiB   DEFAULT_MAX_MESSAGE_SIZE: the largest frame any socket sends
    remote   8 MiB   the largest frame a manager's remote socket takes (below)
    batch    4 MiB   one ``raft.messages`` batch or one ``raft.chunk`` of a larger one
    entry    2 MiB   one Raft entry: a store proposal (several writes of a batch)
    write    1 MiB   one store transaction (``update``, or one ``Batch.update``)
    object 512 KiB   one stored object, encoded
    spec   128 KiB   a user's spec or a node's description (a service keeps its spec and
                     its previous one, a task a copy of its service's: they fit an object)

A manager's remote socket takes frames of up to ``REMOTE_MAX_REQUEST_BYTES``, twice a Raft
batch: the largest frames it is sent carry 4 MiB of payload (a ``raft.messages`` batch, a
``raft.chunk``, a ``raft.propose`` of forwarded entries, each under 100 bytes more; a
``logs.publish`` batch of ``MAX_PUBLISH_BYTES``, 70 KiB more), and the count-bounded ones
far less (a worker's status batch of 1000 updates: 140 KiB, 630 KiB with 500-character
errors; a session request, a node description of at most 128 KiB). The margin, the same
again, is for envelopes and fields that grow. A peer that sends a bigger frame is dropped
by ZeroMQ from the frame's header, before anything is allocated, so each connection holds
at most 65 such frames (transport/router_loop.py) instead of 65 of 16 MiB. What the socket
sends keeps the frame limit: a worker's assignments (about 390 bytes a task with shared
specs: 41 KiB for bench/scale.py's 100 tasks a node, 3.8 MiB for 10,000) are cut into
frames of half of it (actors/dispatcher/frame_packing.py), a full set into at most 16.

A control request (swarmctl, the Engine API and the web view on the ``ipc://`` control
socket) carries one object's spec or data at most, so that socket takes requests of up to
``CONTROL_MAX_REQUEST_BYTES``, 4 MiB, not 16: eight objects' worth, so that a spec over its
own budget is still refused naming that budget, and twice the Engine API's largest body.
Its replies (listings) keep the frame limit.

For scale: SwarmKit's store caps a transaction at 1.5 MiB (``MaxTransactionBytes`` in
manager/state/store/memory.go) and etcd a request at 1.5 MiB (``--max-request-bytes``).
A snapshot has no such budget (it holds the whole store): it travels in ``raft.chunk``
frames of at most ``RAFT_BATCH_BYTES`` and a member accepts one up to
``MAX_SNAPSHOT_BYTES`` (the WAL's largest record, too).
"""

from __future__ import annotations

from typing import Final

from api.schema.frame import DEFAULT_MAX_MESSAGE_SIZE

__all__ = [
    "CONTROL_MAX_REQUEST_BYTES",
    "MAX_ENTRY_BYTES",
    "MAX_FRAME_BYTES",
    "MAX_OBJECT_BYTES",
    "MAX_SNAPSHOT_BYTES",
    "MAX_SPEC_BYTES",
    "MAX_WRITE_BYTES",
    "RAFT_BATCH_BYTES",
    "REMOTE_MAX_REQUEST_BYTES",
    "format_bytes",
]

MAX_FRAME_BYTES: Final = DEFAULT_MAX_MESSAGE_SIZE
RAFT_BATCH_BYTES: Final = MAX_FRAME_BYTES // 4
MAX_ENTRY_BYTES: Final = MAX_FRAME_BYTES // 8
MAX_WRITE_BYTES: Final = MAX_ENTRY_BYTES // 2
MAX_OBJECT_BYTES: Final = MAX_WRITE_BYTES // 2
MAX_SPEC_BYTES: Final = MAX_OBJECT_BYTES // 4
MAX_SNAPSHOT_BYTES: Final = 1 << 30
CONTROL_MAX_REQUEST_BYTES: Final = 4 * MAX_WRITE_BYTES
REMOTE_MAX_REQUEST_BYTES: Final = 2 * RAFT_BATCH_BYTES


def format_bytes(n: int) -> str:
    """``512 KiB``, ``8.5 MiB``, ``32771 bytes``: sizes in error messages (exact below
    64 KiB, where a rounded figure could equal the limit it exceeds)."""
    if n < 64 * 1024 and n % 1024:
        return f"{n} bytes"
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            value = n / scale
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} bytes"
