"""Letting ZeroMQ's I/O thread take a frame at once, on a write's hot path.

A send on a ZeroMQ socket hands the frame to its context's I/O thread (which encrypts it
and writes it to TCP) and wakes that thread. When every core is busy (two cores, three
Raft members and a client; or other work on the machine), Linux's scheduler (EEVDF) need
not run the woken thread before the sending one has used up its slice: the frame waits for
the rest of the sender's work, which a write does not need (a follower applying after its
ack, a leader finishing its round after a writer's answer). `hand_over` gives up the CPU
right after such a send (``sched_yield``): the I/O thread runs now and the sender goes on
after it. With a core free it costs one system call (under a microsecond).

Callers: `transport.outbox.Outbox` (an inline handler's reply, once per turn of the I/O
loop: a Raft leader's answer to a writer) and the Raft loop after the sends a Ready makes
after its fsync (`actors.raft_node.carry_out` rule 4: a follower's ack). Not after a
leader's appends: its own fsync comes next, and blocking in it frees the CPU anyway,
where a yield could lose the CPU to another process for a whole slice before it starts.
"""

from __future__ import annotations

import os

__all__ = ["hand_over"]


def hand_over() -> None:
    """Let the threads waiting for this CPU (the I/O thread a send just woke) run first."""
    os.sched_yield()
