"""Random and mutated wire frames from a seeded generator (tests/security/test_fuzz.py).

``FrameFuzzer(random.Random(seed)).frame()`` returns ``(kind, bytes)``; the same seed gives
the same frames in the same order, so a failing seed reproduces. Kinds:

- ``random``: random bytes;
- ``typed``: an envelope of a declared message type whose body has the declared field
  types with random values (only for the types ``may_be_valid`` allows: a well-formed
  write is a real write);
- ``wrong_type``: a declared type with a field of another msgpack type, a required field
  missing, or an undeclared field;
- ``envelope``: the envelope's own fields of the wrong type or value (v, t, id, b, more);
- ``mutated``: a valid frame truncated, with bytes flipped, inserted or deleted;
- ``huge_length``: a string, bin, array or map header claiming up to 2**32-1 elements;
- ``deep``: arrays or maps nested hundreds to thousands deep;
- ``big``: a typed frame padded past a stranger's 64 KiB (up to 1 MiB);
- ``flood``: the big frame of empty maps of tests/support/flood.py (issue 8, item 2).
"""

from __future__ import annotations

import functools
import random
import string
from collections.abc import Callable
from typing import Any

import msgpack

from api.schema.declare import FieldType, ListOf, MapOf, MessageType, Nullable, Scalar, Struct
from api.schema.frame import STRANGER_LIMITS
from api.schema.registry import registered
from tests.support.flood import BIG_FRAME_BYTES, empty_maps_frame

__all__ = ["KINDS", "FrameFuzzer"]

KINDS = (
    "random",
    "typed",
    "wrong_type",
    "envelope",
    "mutated",
    "huge_length",
    "deep",
    "big",
    "flood",
)
_WEIGHTS = (10, 20, 25, 10, 20, 6, 5, 4, 1)
_TEXT = string.ascii_letters + string.digits + "._-/:"


class FrameFuzzer:
    def __init__(
        self,
        rng: random.Random,
        *,
        types: Callable[[], list[MessageType]] | None = None,
        may_be_valid: Callable[[str], bool] = lambda _name: True,
    ) -> None:
        self.rng = rng
        # sorted: registration order depends on which modules a run imported first
        self.types = (types or (lambda: sorted(registered().values(), key=lambda t: t.name)))()
        self.may_be_valid = may_be_valid

    def frame(self) -> tuple[str, bytes]:
        kind = self.rng.choices(KINDS, _WEIGHTS)[0]
        make: Callable[[], bytes] = getattr(self, f"_{kind}")
        return kind, make()

    # -- values -------------------------------------------------------------------------
    def value(self, t: FieldType, depth: int = 0) -> Any:
        """A random value of type ``t``."""
        r = self.rng
        if isinstance(t, Nullable):
            return None if r.random() < 0.2 else self.value(t.inner, depth)
        if isinstance(t, ListOf):
            return [self.value(t.item, depth + 1) for _ in range(r.randrange(4))]
        if isinstance(t, MapOf):
            return {self.text(): self.value(t.value, depth + 1) for _ in range(r.randrange(4))}
        if isinstance(t, Struct):
            return {f.name: self.value(f.type, depth + 1) for f in t.fields}
        return self.scalar(t, depth)

    def scalar(self, t: Scalar, depth: int) -> Any:
        r = self.rng
        name = t.name
        if name == "str":
            return self.text()
        if name == "int":
            return r.choice([0, 1, -1, 2**31, 2**63 - 1, -(2**63), 2**64 - 1, r.randrange(10**6)])
        if name == "float":
            return r.choice([0.0, -1.5, 1e308, float("inf"), float("nan"), r.random()])
        if name == "bool":
            return r.random() < 0.5
        if name == "bytes":
            return r.randbytes(r.randrange(64))
        return self.plain(depth)

    def plain(self, depth: int = 0) -> Any:
        """Any plain msgpack value."""
        r = self.rng
        choice = r.randrange(9 if depth < 3 else 6)
        if choice == 0:
            return None
        if choice == 1:
            return r.random() < 0.5
        if choice == 2:
            return r.randrange(-(2**63), 2**64)
        if choice == 3:
            return r.random() * 10 ** r.randrange(-5, 300)
        if choice == 4:
            return self.text()
        if choice == 5:
            return r.randbytes(r.randrange(32))
        if choice == 6:
            return [self.plain(depth + 1) for _ in range(r.randrange(5))]
        return {self.text(): self.plain(depth + 1) for _ in range(r.randrange(5))}

    def text(self) -> str:
        r = self.rng
        if r.random() < 0.1:
            return "".join(chr(r.randrange(0x20, 0x3000)) for _ in range(r.randrange(12)))
        return "".join(r.choice(_TEXT) for _ in range(r.randrange(16)))

    def wrong(self, t: FieldType) -> Any:
        """A value whose msgpack type is not ``t``'s (for ``any``: any value will do)."""
        for _ in range(20):
            v = self.plain()
            if not _matches(v, t):
                return v
        return object.__new__(_NotPlain)  # encodes as an ext type: refused as malformed

    # -- frames -------------------------------------------------------------------------
    def envelope(self, mt: MessageType, body: Any, **extra: Any) -> bytes:
        env = {"v": 1, "t": mt.name, "id": self.rng.randrange(1, 2**32), "b": body, **extra}
        packed: bytes = msgpack.packb(env, use_bin_type=True, default=_ext)
        return packed

    def typed_body(self, mt: MessageType) -> dict[str, Any]:
        return {f.name: self.value(f.type) for f in mt.fields if f.required or self.coin()}

    def coin(self) -> bool:
        return self.rng.random() < 0.5

    def _random(self) -> bytes:
        return self.rng.randbytes(self.rng.randrange(2000))

    def _typed(self) -> bytes:
        mt = self.rng.choice(self.types)
        if not self.may_be_valid(mt.name):
            return self._wrong_type_of(mt)
        return self.envelope(mt, self.typed_body(mt))

    def _wrong_type(self) -> bytes:
        return self._wrong_type_of(self.rng.choice(self.types))

    def _wrong_type_of(self, mt: MessageType) -> bytes:
        r = self.rng
        body = self.typed_body(mt)
        required = [f for f in mt.fields if f.required]
        declared = [f for f in mt.fields if not isinstance(f.type, Scalar) or f.type.name != "any"]
        if required and r.random() < 0.3:
            del body[r.choice(required).name]
        elif declared:
            f = r.choice(declared)
            body[f.name] = self.wrong(f.type)
        else:  # nothing can be wrong in the body: the body itself is
            return self.envelope(mt, r.choice([[], "b", 7, None, b"\x00"]))
        return self.envelope(mt, body)

    def _envelope(self) -> bytes:
        r = self.rng
        mt = r.choice(self.types)
        env: dict[str, Any] = {"v": 1, "t": mt.name, "id": r.randrange(1, 2**32), "b": {}}
        field = r.choice(["v", "t", "id", "b", "more", "drop"])
        if field == "drop":
            del env[r.choice(list(env))]
        else:
            env[field] = r.choice([None, -1, 2**64 - 1, "x", b"x", [], {}, 1.5, True, 2])
        packed: bytes = msgpack.packb(env, use_bin_type=True)
        return packed

    def _mutated(self) -> bytes:
        r = self.rng
        frame = bytearray(self._typed())
        for _ in range(r.randrange(1, 5)):
            op = r.choice(["flip", "insert", "delete", "truncate"])
            pos = r.randrange(max(1, len(frame)))
            if op == "flip" and frame:
                frame[pos] = r.randrange(256)
            elif op == "insert":
                frame[pos:pos] = r.randbytes(r.randrange(1, 5))
            elif op == "delete" and frame:
                del frame[pos]
            else:
                del frame[pos:]
        return bytes(frame)

    def _huge_length(self) -> bytes:
        r = self.rng
        head = bytes([r.choice([0xDB, 0xC6, 0xDD, 0xDF])])  # str32, bin32, array32, map32
        claimed = r.choice([2**32 - 1, 2**31, 15 * 1024 * 1024, 70_000])
        payload = head + claimed.to_bytes(4, "big") + r.randbytes(r.randrange(64))
        return self._with_body(payload) if self.coin() else payload

    def _deep(self) -> bytes:
        r = self.rng
        depth = r.choice([100, 600, 1100, 5000])
        opener = b"\x91" if self.coin() else b"\x81\xa1k"  # [x] or {"k": x}
        return self._with_body(opener * depth + b"\xc0")

    def _with_body(self, raw_body: bytes) -> bytes:
        """A good envelope of a random type whose body is ``raw_body``, as is."""
        frame = self.envelope(self.rng.choice(self.types), "")
        assert frame.endswith(b"\xa0")  # the body "" is the last field
        return frame[:-1] + raw_body

    def _big(self) -> bytes:
        r = self.rng
        size = r.randrange(STRANGER_LIMITS.max_size + 1, 1024 * 1024)
        mt = r.choice(self.types)
        body = self.typed_body(mt) if self.may_be_valid(mt.name) else {}
        body["pad"] = r.randbytes(size) if self.coin() else [0] * (size // 2)
        return self.envelope(mt, body)

    def _flood(self) -> bytes:
        return _flood_frame()


@functools.cache
def _flood_frame() -> bytes:
    return empty_maps_frame(BIG_FRAME_BYTES)


class _NotPlain:
    """A value msgpack cannot encode as plain msgpack (sent as an ext type)."""


def _ext(value: Any) -> Any:
    if isinstance(value, _NotPlain):
        return msgpack.ExtType(5, b"\x00")
    raise TypeError(f"cannot encode {type(value).__name__}")


def _matches(value: Any, t: FieldType) -> bool:
    if isinstance(t, Nullable):
        return value is None or _matches(value, t.inner)
    if isinstance(t, ListOf):
        return type(value) is list
    if isinstance(t, MapOf | Struct):
        return type(value) is dict
    name = t.name
    vt = type(value)
    return {
        "str": vt is str,
        "int": vt is int,
        "float": vt is float or vt is int,
        "bool": vt is bool,
        "bytes": vt is bytes,
    }.get(name, True)
