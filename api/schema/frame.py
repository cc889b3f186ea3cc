"""What a frame is: the envelope every message travels in, and how much a frame may make
the decoder build, by who sent it.

Every message on the wire is one msgpack map in one ZeroMQ frame (DESIGN.md §6)::

    {"v": 1, "t": type, "id": request id, "b": body}            # plus "more": true

``id`` 0 marks a one-way message (no reply). A reply carries the id of its request; a
streamed reply carries ``"more": true`` on every frame but the last. A failed request is
answered with an ``error`` message (body ``code``, ``message``) carrying the request's id.
The types a frame may carry are declared by their owners in `api.schema` and looked up in
`api.schema.registry`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from api.objects_init import fast_init

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "MAX_REQUEST_ID",
    "MEMBER_LIMITS",
    "PROTOCOL_VERSION",
    "REPLY_LIMITS",
    "STRANGER_LIMITS",
    "DecodeLimits",
    "Envelope",
]

PROTOCOL_VERSION: Final = 1
DEFAULT_MAX_MESSAGE_SIZE: Final = 16 * 1024 * 1024
MAX_REQUEST_ID: Final = 2**64 - 1  # an envelope's "id" is an int in [0, 2**64)


# -- the envelope --------------------------------------------------------------------------


@fast_init  # one for every frame decoded (api/objects_init.py)
@dataclass(frozen=True, slots=True)
class Envelope:
    """One decoded, validated message. ``body`` is the validated body map."""

    type: str
    id: int
    body: Mapping[str, Any] = field(default_factory=dict)
    more: bool = False
    version: int = PROTOCOL_VERSION


# -- how much a frame may make the decoder build, by who sent it ---------------------------


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """Bounds on one frame and on what decoding it may build (DESIGN.md §7: peers without
    a certificate reach only the join and CA calls, with small frames).

    ``max_size`` (bytes) is checked before msgpack sees the frame; the next four are
    msgpack's own limits on any one string, bin, array and map, refused from the length in
    their header before anything is built; ``max_items`` bounds the elements of all arrays
    and the entries of all maps together, so nesting cannot multiply the lengths (15 MiB of
    empty maps is 15 million objects however they are nested).
    """

    max_size: int
    max_str_len: int
    max_bin_len: int
    max_array_len: int
    max_map_len: int
    max_items: int

    def capped(self, max_size: int) -> DecodeLimits:
        """These limits within frames of at most ``max_size`` bytes."""
        return DecodeLimits(
            min(self.max_size, max_size),
            min(self.max_str_len, max_size),
            min(self.max_bin_len, max_size),
            self.max_array_len,
            self.max_map_len,
            self.max_items,
        )


# A stranger (the join-hello port; a key with no live certificate on the remote API) can
# send only ca.hello, ca.root and ca.join: no list or map in their bodies, a token and a
# hostname (strings of at most a few hundred characters) and a PEM CSR (about 1 KiB).
# The envelope is a map of 5 entries, and undeclared body fields are kept (newer peers),
# so a little room is left above those needs.
STRANGER_LIMITS: Final = DecodeLimits(
    max_size=64 * 1024,
    max_str_len=4 * 1024,
    max_bin_len=16 * 1024,
    max_array_len=32,
    max_map_len=32,
    max_items=256,
)
# A member (a key with a live node certificate; the local control socket, mode 0600):
# Raft batches are one bin up to the frame size; no string can be longer than a whole
# store write (1 MiB, api/limits.py MAX_WRITE_BYTES); the largest structured requests are
# a worker's status batch (up to 1000 updates of about 15 entries each), a node
# description and a service spec from the control socket.
MEMBER_LIMITS: Final = DecodeLimits(
    max_size=DEFAULT_MAX_MESSAGE_SIZE,
    max_str_len=1024 * 1024,
    max_bin_len=DEFAULT_MAX_MESSAGE_SIZE,
    max_array_len=65_536,
    max_map_len=16_384,
    max_items=262_144,
)
# A reply a client decodes comes from the server it chose (a pinned CURVE key, or its own
# node's control socket): listings of every task of a cluster and a worker's full set of
# assignments are the largest. These limits only keep a broken server from exhausting it.
REPLY_LIMITS: Final = DecodeLimits(
    max_size=DEFAULT_MAX_MESSAGE_SIZE,
    max_str_len=DEFAULT_MAX_MESSAGE_SIZE,
    max_bin_len=DEFAULT_MAX_MESSAGE_SIZE,
    max_array_len=1_048_576,
    max_map_len=1_048_576,
    max_items=4_194_304,
)
