"""A stand-in for a transport `Request` as the Raft handlers use it: it records what the
handler answers (replies and errors) instead of sending it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["PeerRequest"]


@dataclass
class PeerRequest:
    type: str
    body: dict[str, Any]
    id: int = 1
    peer_key: bytes = b"peer"
    errors: list[tuple[str, str]] = field(default_factory=list)
    replies: list[dict[str, Any]] = field(default_factory=list)

    def error(self, code: str, message: str) -> None:
        self.errors.append((code, message))

    def reply(self, body: Any = None, *, more: bool = False, check: bool = True) -> None:
        self.replies.append(dict(body or {}))
