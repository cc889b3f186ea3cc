"""A tiny web server in the test image (busybox ``httpd``) and a client for it (urllib),
for tests that reach services: published ports, networks."""

from __future__ import annotations

import shlex
import urllib.request
from typing import Any

__all__ = ["fetch", "http_get", "lookup", "serving"]


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


# The static busybox resolves names only with its own DNS client (nslookup: its libc
# lookups crash without NSS libraries), so: ask the engine's DNS, then fetch by address.
FETCH_BY_NAME = (
    "ip=$(nslookup \"$1\" | awk '/^Address: /{print $2}' | tail -n 1); "
    '[ -n "$ip" ] || exit 2; exec wget -q -O - "http://$ip/"'
)


def fetch(docker_client: Any, task: dict[str, Any], name: str) -> tuple[int, str]:
    """(exit code, body) of fetching http://NAME/ from inside the task's container; exit
    code 2: the name does not resolve there."""
    container = docker_client.containers.get(task["container_id"])
    result = container.exec_run(["sh", "-c", FETCH_BY_NAME, "sh", name])
    return result.exit_code, result.output.decode().strip()


def lookup(docker_client: Any, task: dict[str, Any], name: str) -> str:
    """What the engine's DNS answers for ``name`` inside the task's container (busybox
    ``nslookup``'s output), for a failure message."""
    container = docker_client.containers.get(task["container_id"])
    return str(container.exec_run(["nslookup", name]).output.decode().strip())
