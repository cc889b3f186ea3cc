"""Letting ZeroMQ's I/O thread take a frame at once, on a write's hot path.

A send on a ZeroMQ socket hands the frame to its context's I/O thread (which encrypts it
and writes it to TCP) and wakes that thread. When every core is busy (two cores, three
Raft members and a client; or other work on the machine), Linux's scheduler (EEVDF) need
not run the woken thread before the sending one has used up its slice: the frame waits for
the rest of the sender's work, which the write does not need. `hand_over` gives up the CPU
right after such a send (``sched_yield``): the I/O thread runs now and the sender goes on
after it. With a core free it costs one system call (under a microsecond).

Two callers, both in the Raft loop:
- after the sends a Ready makes after its fsync (`actors.raft_node.carry_out` rule 4: a
  follower's ack, which the leader waits for, before its apply). bench/raft.py, one write
  at a time, 2026-12-07 at load 11-14, nine pairs alternating with 63f7820: p50 1.23-1.45
  ms against 1.27-1.74 (medians 1.33 and 1.58; the follower -> leader hop 52 us against
  164 at the median: README, "Not met yet");
- on a leader, after the apply that answered the last writer waiting for one (the reply
  is on its way; what the round does next, and the other follower's ack, is not). A
  trade more than a gain: in ten pairs of timestamped runs of bench/raft.py one write at a
  time (2026-12-07 03:59-04:01 UTC, load 2.4-3.6) the leader -> client hop fell from 115
  to 82 us at the median, but the next write's client -> leader hop rose from 63 to 87 (the
  leader is still stepping the other follower's ack when it arrives): the whole write 1,239
  against 1,251 us, shorter in 6 pairs of 10.

Not after a leader's appends: its own fsync comes next (blocking in it frees the CPU
anyway), and a yield there showed no gain. Nor after every answer while other writes
wait: that cost 64 concurrent writers 24-43% of their writes/s in three pairs of runs (the
leader is their bottleneck: each yield there gave its CPU away to other processes).
"""

from __future__ import annotations

import os

__all__ = ["hand_over"]


def hand_over() -> None:
    """Let the threads waiting for this CPU (the I/O thread a send just woke) run first."""
    os.sched_yield()
