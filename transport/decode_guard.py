"""What guards msgpack's unpacking in `transport.codec.decode`, and words its refusals.

- `ItemBudget`: msgpack's hooks, counting the elements of every array and map as each
  completes, so that nesting cannot multiply the per-container lengths (a frame of
  millions of tiny maps stops after the budget's worth). `decode` installs them only on a
  frame larger than the budget in bytes (every element starts at a byte of its own, so a
  smaller frame cannot go over it): `NO_HOOKS` otherwise.
- `refusal`: the `CodecError` for whatever the unpacker raised: over the budget or over
  one of msgpack's length limits is `LimitExceeded`, anything else `UndecodableFrame`.
  Either carries the request id salvaged from the frame's head (`salvage_id`) when the
  envelope names it before the body, as `encode` writes it, so the sender can be
  answered; salvaging reads at most `_HEAD` bytes and builds nothing large.
"""

from __future__ import annotations

from typing import Any, Final

import msgpack

from api.errors import CodecError, LimitExceeded, UndecodableFrame
from api.schema.frame import MAX_REQUEST_ID
from transport.body_walk import SHOWN

__all__ = ["NO_HOOKS", "ItemBudget", "OverBudget", "refusal", "salvage_id"]

_HEAD: Final = 256  # bytes enough for v, t (a type name) and id, as `encode` orders them


class OverBudget(Exception):
    """Raised by `ItemBudget`'s hooks, from inside the unpacker."""


class ItemBudget:
    """msgpack's hooks, called as each map and array completes: counts their elements
    (map entries, array items) and stops decoding once there are more than ``limit``."""

    __slots__ = ("left",)

    def __init__(self, limit: int) -> None:
        self.left = limit

    def map(self, value: dict[str, Any]) -> dict[str, Any]:
        self.left -= len(value)
        if self.left < 0:
            raise OverBudget
        return value

    def array(self, value: list[Any]) -> list[Any]:
        self.left -= len(value)
        if self.left < 0:
            raise OverBudget
        return value

    def hooks(self) -> dict[str, Any]:
        return {"object_hook": self.map, "list_hook": self.array}


NO_HOOKS: Final[dict[str, Any]] = {}


def refusal(exc: Exception, frame: bytes | memoryview, max_items: int) -> CodecError:
    """The error for a frame whose unpacking raised ``exc`` (msgpack raises many kinds;
    all but a limit's mean "not one valid object")."""
    if isinstance(exc, OverBudget):
        return LimitExceeded(
            f"frame holds more than {max_items} elements in its arrays and maps",
            request_id=salvage_id(frame),
        )
    if isinstance(exc, ValueError):
        text = str(exc)
        if "exceeds max_" in text and "max_ext_len" not in text:
            return LimitExceeded(
                f"frame exceeds a decode limit: {_reason(exc)}", request_id=salvage_id(frame)
            )
    return UndecodableFrame(
        f"frame is not one msgpack object: {_reason(exc)}", request_id=salvage_id(frame)
    )


def salvage_id(frame: bytes | memoryview) -> int | None:
    """The request id of a frame that did not decode, when its envelope names it before
    the body (as `encode` writes it), so that the sender can be answered; else None. Reads
    the first `_HEAD` bytes only, with lengths too small to build anything large."""
    unpacker = msgpack.Unpacker(
        raw=False,
        max_buffer_size=_HEAD,
        max_str_len=_HEAD,
        max_bin_len=0,
        max_array_len=0,
        max_map_len=0,
        max_ext_len=0,
    )
    try:
        unpacker.feed(bytes(frame[:_HEAD]))
        for _ in range(min(unpacker.read_map_header(), 4)):
            key = unpacker.unpack()
            if key == "b":
                return None
            value = unpacker.unpack()
            if key == "id":
                ok = type(value) is int and 0 < value <= MAX_REQUEST_ID
                return value if ok else None
    except Exception:  # anything short of a readable id: nothing to answer
        return None
    return None


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 2 * SHOWN else text[: 2 * SHOWN] + "…"
