"""Packing with reused msgpack Packers, and message bodies packed already.

``msgpack.packb`` builds a Packer for each call, which cost more than packing a small
frame; a Packer is not to be shared by two threads at once. ``take_packer`` hands out a
free one (or a new one) and ``give_back`` returns it: list pops and appends are atomic, so
each Packer serves one thread at a time, with no lock. A Packer that raised is clean again
(msgpack resets its buffer).
"""

from __future__ import annotations

from typing import Final

import msgpack

__all__ = ["Packed", "give_back", "packb", "take_packer"]

_KEPT: Final = 8  # free Packers kept at most (one per thread that packs at once)
_FREE: list[msgpack.Packer] = []


class Packed(bytes):
    """A message body packed already: one msgpack map, built by the sender's own typed
    encoders (a dispatcher's session frame, whose tasks share their spec's packing).
    ``transport.codec.encode`` puts it in the envelope as it is."""


def take_packer() -> msgpack.Packer:
    """A Packer (``use_bin_type``) for this thread alone until ``give_back``."""
    try:
        return _FREE.pop()
    except IndexError:
        return msgpack.Packer(use_bin_type=True)


def give_back(packer: msgpack.Packer) -> None:
    if len(_FREE) < _KEPT:
        _FREE.append(packer)


def packb(obj: object) -> bytes:
    """``msgpack.packb(obj, use_bin_type=True)`` with a reused Packer."""
    packer = take_packer()
    try:
        data: bytes = packer.pack(obj)
    finally:
        give_back(packer)
    return data
