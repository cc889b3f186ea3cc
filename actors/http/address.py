"""Where an HTTP endpoint listens: ``unix:///PATH``, ``tcp://HOST:PORT`` or ``HOST:PORT``.

Rules:
- A unix socket path must be absolute; its file is created with mode 0600 (only the node's
  user may connect), as the control socket is.
- A TCP address names its host: ``:PORT`` or ``PORT`` alone means the loopback address, so
  nothing is reachable from other hosts unless written out.
- Bad input raises ValueError naming the flag and the text.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

__all__ = ["LOOPBACK", "HttpAddress", "is_loopback", "parse_http_address"]

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class HttpAddress:
    """A unix socket (``path`` set) or a TCP host and port (port 0: the OS picks one)."""

    path: str = ""
    host: str = ""
    port: int = 0

    @property
    def is_unix(self) -> bool:
        return bool(self.path)

    def url(self) -> str:
        if self.is_unix:
            return f"unix://{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{self.port}"

    def is_loopback(self) -> bool:
        """A unix socket or a loopback TCP host: reachable from this machine only."""
        return self.is_unix or is_loopback(self.host)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_http_address(text: str, *, flag: str = "address") -> HttpAddress:
    """``unix:///PATH``, ``tcp://HOST:PORT``, ``HOST:PORT``, ``[IPV6]:PORT``, ``:PORT`` or
    ``PORT`` → `HttpAddress`; ValueError names ``flag`` and the input."""
    s = text.strip()
    if s.startswith("unix://"):
        path = s[len("unix://") :]
        if not path.startswith("/"):
            raise ValueError(f"{flag}: a unix socket path must be absolute, got {text!r}")
        if "\x00" in path:
            raise ValueError(f"{flag}: a unix socket path cannot hold a NUL byte")
        return HttpAddress(path=path)
    if s.startswith("tcp://"):
        s = s[len("tcp://") :]
    elif "://" in s:
        raise ValueError(f"{flag} wants unix:///PATH or tcp://HOST:PORT, got {text!r}")
    host, sep, port = s.rpartition(":")
    if not sep:
        host, port = "", s
    host = host.strip("[]")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{flag} wants unix:///PATH or tcp://HOST:PORT, got {text!r}")
    return HttpAddress(host=host or LOOPBACK, port=int(port))
