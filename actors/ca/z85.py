"""Z85 (ZeroMQ RFC 32) for 32-byte CURVE keys, so the CA's pure modules need no zmq."""

from __future__ import annotations

from typing import Final

__all__ = ["z85_decode", "z85_encode"]

_ALPHABET: Final = (
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
)
_INDEX: Final = {c: i for i, c in enumerate(_ALPHABET)}


def z85_encode(data: bytes) -> bytes:
    if len(data) % 4:
        raise ValueError("Z85 encodes a multiple of 4 bytes")
    out = bytearray()
    for i in range(0, len(data), 4):
        value = int.from_bytes(data[i : i + 4], "big")
        chunk = bytearray()
        for _ in range(5):
            value, rem = divmod(value, 85)
            chunk.append(_ALPHABET[rem])
        out += chunk[::-1]
    return bytes(out)


def z85_decode(text: bytes) -> bytes:
    if len(text) % 5:
        raise ValueError("Z85 text length must be a multiple of 5")
    out = bytearray()
    for i in range(0, len(text), 5):
        value = 0
        for c in text[i : i + 5]:
            digit = _INDEX.get(c)
            if digit is None:
                raise ValueError("not a Z85 character")
            value = value * 85 + digit
        if value >= 1 << 32:
            raise ValueError("Z85 group out of range")
        out += value.to_bytes(4, "big")
    return bytes(out)
