"""A listing sent in frames (actors/control/listing.py), joined back into one reply."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["joined"]


def joined(frames: Iterable[dict[str, Any]], rows_key: str) -> dict[str, Any]:
    """The first frame's body with every frame's ``rows_key`` rows, in order."""
    reply: dict[str, Any] | None = None
    rows: list[Any] = []
    for frame in frames:
        if reply is None:
            reply = frame
        rows.extend(frame[rows_key])
    if reply is None:
        raise ValueError("a listing ended before its first frame")
    reply[rows_key] = rows
    return reply
