"""A real network partition on loopback: iptables rules that cut one address off.

    with NetCut() as cut:          # removes its rules on exit, even on failure
        cut.isolate("127.140.7.2") # nothing reaches or leaves that address but itself
        ...
        cut.heal()

The nodes of such a test each listen on their own loopback address and connect from it
(``Swarm(..., own_addresses=True)``; transport/source.py), so a packet's source and
destination say which node sent it and to whom. For an isolated address the rules DROP, in
INPUT and OUTPUT, every packet from it to another address and every packet to it from
another address: its TCP connections (established or new) stall both ways, as across a
broken network, while the node still reaches itself and its control socket (a unix socket)
still answers. Each rule carries a comment unique to this `NetCut`, so cleanup deletes
exactly its own rules, and nothing another test or engineer added.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from types import TracebackType

__all__ = ["NetCut", "iptables_unusable"]

_CHAINS = ("INPUT", "OUTPUT")
_TIMEOUT = 30.0


def _iptables(*args: str) -> subprocess.CompletedProcess[str]:
    # -w: wait for the xtables lock rather than fail when another iptables call holds it
    return subprocess.run(
        ["iptables", "-w", "5", *args], capture_output=True, text=True, timeout=_TIMEOUT
    )


def _rules(host: str, tag: str) -> list[tuple[str, ...]]:
    """The rule specs (without -A/-I/-D) that cut ``host`` off from every other address,
    in the order to insert them at the head of their chains: last, a rule without a target
    that counts the connections ``host`` tries to open (`NetCut.connects_from`)."""
    comment = ("-m", "comment", "--comment", tag)
    drops = [
        (chain, *match, *comment, "-j", "DROP")
        for chain in _CHAINS
        for match in (("-s", host, "!", "-d", host), ("-d", host, "!", "-s", host))
    ]
    count = ("OUTPUT", "-s", host, "!", "-d", host, "-p", "tcp", "--syn", *comment)
    return [*drops, count]


def iptables_unusable() -> str | None:
    """Why this process cannot add and remove iptables rules, or None if it can (checked
    by adding and deleting a tagged rule on an address nothing uses)."""
    if shutil.which("iptables") is None:
        return "iptables is not installed"
    if os.geteuid() != 0:
        return "iptables needs root"
    probe = ("OUTPUT", "-d", "127.255.255.254", "-m", "comment", "--comment",
             f"swarmnode-probe-{uuid.uuid4().hex[:8]}", "-j", "DROP")  # fmt: skip
    added = _iptables("-I", *probe)
    if added.returncode != 0:
        return f"iptables cannot add a rule: {added.stderr.strip()}"
    removed = _iptables("-D", *probe)
    if removed.returncode != 0:
        return f"iptables cannot delete a rule: {removed.stderr.strip()}"
    return None


class NetCut:
    """The iptables rules of one test (see the module docstring)."""

    def __init__(self) -> None:
        self.tag = f"swarmnode-netcut-{uuid.uuid4().hex[:12]}"
        self._added: list[tuple[str, ...]] = []

    @property
    def isolated(self) -> set[str]:
        return {spec[2] for spec in self._added}

    def isolate(self, host: str) -> None:
        """Cut ``host`` off from every other address, both ways."""
        for spec in _rules(host, self.tag):
            result = _iptables("-I", *spec)  # first in the chain: before any ACCEPT
            if result.returncode != 0:
                raise RuntimeError(f"iptables -I {' '.join(spec)}: {result.stderr.strip()}")
            self._added.append(spec)

    def connects_from(self, host: str) -> int:
        """How many TCP connections ``host`` tried to open to other addresses since it was
        cut off (SYNs counted by a rule without a target, just before the DROP)."""
        total = 0
        for line in _iptables("-v", "-S", "OUTPUT").stdout.splitlines():
            words = line.split()
            if self.tag in words and "-j" not in words and f"{host}/32" in words:
                total += int(words[words.index("-c") + 1])
        return total

    def heal(self) -> None:
        """Delete every rule this cut added (each exactly once), then any rule still
        carrying its tag (in case an add half-failed)."""
        errors = []
        while self._added:
            spec = self._added.pop()
            result = _iptables("-D", *spec)
            if result.returncode != 0:
                errors.append(f"iptables -D {' '.join(spec)}: {result.stderr.strip()}")
        self._sweep()
        if errors:
            raise RuntimeError("; ".join(errors))

    def _sweep(self) -> None:
        for chain in _CHAINS:
            listing = _iptables("-S", chain)
            for line in listing.stdout.splitlines():
                words = line.split()
                if self.tag in words:  # "-A CHAIN spec..." → "-D CHAIN spec..."
                    _iptables("-D", *words[1:])

    def __enter__(self) -> NetCut:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.heal()
