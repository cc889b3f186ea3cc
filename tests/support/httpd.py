"""A tiny web server in the test image (busybox ``httpd``) and a client for it (urllib),
for tests that reach services: published ports, networks."""

from __future__ import annotations

import shlex
import urllib.request

__all__ = ["http_get", "serving"]


def serving(text: str) -> list[str]:
    """A busybox command serving ``text`` and the container's hostname (its short id) on
    port 80."""
    script = (
        f"mkdir -p /www && echo {shlex.quote(text)} $(hostname) > /www/index.html "
        "&& exec httpd -f -p 80 -h /www"
    )
    return ["sh", "-c", script]


def http_get(url: str, timeout: float = 2.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as reply:
        return str(reply.read().decode())
