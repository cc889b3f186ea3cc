"""How long the dispatcher's next tick waits: its tick window, stretched after a tick that
sent frames to many sessions.

A frame costs about the same whatever it carries: it is built, encoded and encrypted
here, decrypted and decoded by the worker, and answered with a status report that is
decoded and judged here again. A ramp's spread placement gives each node about one task
per tick, so at 100,000 tasks on 1,000 nodes 94,000 frames carried 1.06 tasks each.
Rules:
- A tick that sent fewer than ``busy_frames`` frames leaves the window at ``interval``:
  a lone change is still sent at once and a small service's tasks as soon as before.
- One that sent more stretches the next window in proportion to its frames, up to
  ``longest``: the tasks placed meanwhile share each session's next frame. While a ramp
  lasts its frames each carry a few tasks; once it ends the window is back at once.
"""

from __future__ import annotations

__all__ = ["BUSY_FRAMES", "LONGEST_WINDOW", "next_window"]

BUSY_FRAMES = 100  # frames of one tick from which the next window stretches
LONGEST_WINDOW = 0.5  # seconds: a frame's tasks wait at most this long for company


def next_window(
    interval: float,
    frames: int,
    busy_frames: int = BUSY_FRAMES,
    longest: float = LONGEST_WINDOW,
) -> float:
    """The window after a tick that sent ``frames`` frames."""
    if frames < busy_frames:
        return interval
    return max(interval, min(longest, interval * frames / busy_frames))
