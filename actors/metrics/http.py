"""``swarm-node --metrics-addr HOST:PORT``: Prometheus exposition over HTTP, served by
``prometheus_client``'s app from the process's registry (actors/metrics/registry.py), on
a server that bounds the connections a peer can hold (actors/metrics/server.py).

Rules:
- The address says who can scrape: ``PORT`` or ``:PORT`` alone binds the loopback
  address; another host binds only when written out (a wildcard or a routable address),
  and the node logs that it is reachable from other hosts.
- Only the registry is served: metric names, states, counts and service names; never a
  key, token, certificate, secret or spec.
- `MetricsEndpoint` is a supervised actor: it binds in ``on_start`` (a taken port fails
  the node's start with the reason), registers the tree's scrape-time collectors, and
  undoes both in ``on_stop``. Push metrics declared by the subsystems' metrics modules
  belong to the process and stay registered.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Callable, Sequence
from typing import Any

import pykka

from actors.log import get_logger
from actors.metrics.registry import REGISTRY, Collector
from actors.metrics.server import serve_metrics
from actors.supervisor import ChildContext, ChildSpec, SupervisedActor

__all__ = ["MetricsEndpoint", "metrics_child", "parse_metrics_addr"]

LOOPBACK = "127.0.0.1"

_log = get_logger("metrics")


def parse_metrics_addr(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[IPV6]:PORT``, ``:PORT`` or ``PORT`` → (host, port); no host means
    the loopback address. ValueError names the input."""
    s = text.strip()
    host, sep, port = s.rpartition(":")
    if not sep:
        host, port = "", s
    host = host.strip("[]")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--metrics-addr wants HOST:PORT (or PORT for loopback), got {text!r}")
    return host or LOOPBACK, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class MetricsEndpoint(SupervisedActor):
    def __init__(
        self,
        ctx: ChildContext | None,
        host: str,
        port: int,
        collectors: Sequence[Collector] = (),
    ) -> None:
        super().__init__(ctx)
        self._host = host
        self._port = port
        self._collectors = tuple(collectors)
        self._server: Any = None
        self._registered: list[Collector] = []

    def on_start(self) -> None:
        for collector in self._collectors:
            REGISTRY.register(collector)
            self._registered.append(collector)
        try:
            self._server = serve_metrics(self._host, self._port, REGISTRY)
        except OSError as exc:
            self._unregister()
            raise OSError(
                f"--metrics-addr {self._host}:{self._port}: cannot listen: {exc.strerror or exc}"
            ) from None
        _log.info("node.metrics.listening", address=self.address())
        if not is_loopback(self._host):
            _log.warning(
                "node.metrics.exposed",
                address=self.address(),
                reason="--metrics-addr names a non-loopback address: other hosts can scrape",
            )

    def on_stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        self._unregister()

    def _unregister(self) -> None:
        for collector in self._registered:
            with contextlib.suppress(KeyError):
                REGISTRY.unregister(collector)
        self._registered.clear()

    def address(self) -> str:
        if self._server is None:
            return ""
        host, port = self._server.server_address[:2]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def metrics_child(
    addr: str,
    collectors: Callable[[ChildContext], Sequence[Collector]],
    *,
    stop_timeout: float = 5.0,
) -> ChildSpec:
    """The ``metrics`` child: ``collectors(ctx)`` builds the tree's scrape-time collectors
    (they may look their subsystems up through ``ctx.peers`` at each scrape)."""
    host, port = parse_metrics_addr(addr)

    def start(ctx: ChildContext) -> pykka.ActorRef[Any]:
        return MetricsEndpoint.start(ctx, host, port, collectors(ctx))

    return ChildSpec("metrics", start, stop_timeout=stop_timeout)
