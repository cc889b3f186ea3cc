"""Which local address a node's outgoing TCP connections leave from.

A socket that connects without binding first gets its source address from the kernel's
route: on Linux every connection to 127.0.0.x leaves from 127.0.0.1, so a node listening
on 127.0.0.3 would still talk from 127.0.0.1, and neither the peers' logs nor a firewall
rule could tell the nodes apart. A node whose remote API listens on one address therefore
connects from that address too; ZeroMQ takes the source in the connect endpoint
(zmq_tcp(7): ``tcp://SOURCE:PORT;PEER:PORT``, source port 0 meaning any).

Pure functions only: the node derives its source from its ``--listen-remote-api`` once
(`source_host`) and every client turns it into an endpoint (`connect_endpoint`).
"""

from __future__ import annotations

import ipaddress

__all__ = ["connect_endpoint", "source_host"]

_WILDCARDS = frozenset({"", "*", "0.0.0.0", "::"})


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def source_host(listen: str) -> str | None:
    """The source address for a node listening on ``listen`` (``HOST:PORT``): its host if
    that is one numeric address, else None (a wildcard or a name: let the kernel choose)."""
    host = listen.rpartition(":")[0].strip("[]")
    if host in _WILDCARDS:
        return None
    ip = _ip(host)
    return None if ip is None or ip.is_unspecified else str(ip)


def connect_endpoint(address: str, source: str | None) -> str:
    """``address`` (a ZeroMQ endpoint) with ``source`` as the connection's local address.

    Unchanged when there is no source, the transport is not TCP, the address already names
    a source, or the source is a loopback address and the peer is not one (such a packet
    could not leave the machine: the kernel's choice is the only one that works there)."""
    if source is None or not address.startswith("tcp://") or ";" in address:
        return address
    src = _ip(source)
    if src is None:
        return address
    peer_host = address[len("tcp://") :].rpartition(":")[0]
    peer = _ip(peer_host)
    if src.is_loopback and (peer is None or not peer.is_loopback):
        return address
    local = f"[{src}]" if src.version == 6 else str(src)
    return f"tcp://{local}:0;{address[len('tcp://') :]}"
