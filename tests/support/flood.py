"""A stranger's flood against a manager, for tests and ``bench/flood.py`` (issue 8, item 2).

    with FloodProcess(node.remote_api, node.state_dir) as flood:
        flood.wait_sending()
        latencies = probe_version(node.socket, 50)
    print(flood.sent)                               # frames handed to ZeroMQ, by target
    peak = peak_rss_bytes(node.process.pid)

The flood runs in a process of its own (``python -m tests.support.flood``), so its threads
and its encryption never share an interpreter with the caller's probes. There every
`Flooder` is one thread with one CURVE DEALER under a fresh key pair (a stranger: no
certificate, no token), sending one pre-built frame as fast as ZeroMQ takes it, until
stdin closes; it then prints the frames sent per target as one JSON line.

The frames are the issue's: `empty_maps_frame` fills a ``ca.join`` envelope with an array
of empty msgpack maps (15 MiB of them built 15 million dicts on the manager), once just
within the remote API's frame cap (the largest frame ZeroMQ takes there:
``api.limits.REMOTE_MAX_REQUEST_BYTES``, 8 MiB), far over a stranger's 64 KiB, and once
just within a stranger's size, where only the length limits can refuse it. A manager is
flooded on its remote API (under its own certified server key, as a joining node would
reach it) and on its join-hello port. Each flooder's ZeroMQ connects again whenever the
manager closes its connection (a stranger's frames past what it may send, or a frame over
the join-hello port's 4 KiB), and waits when the manager turns its handshake away.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import msgpack
import zmq

from actors.ca.join import hello_address, hello_keypair
from actors.ca.node_identity import read_curve_keys
from api.limits import REMOTE_MAX_REQUEST_BYTES
from tests.support.waiting import wait_for
from transport.client import Client
from transport.keys import generate_keypair

__all__ = [
    "BIG_FRAME_BYTES",
    "SMALL_FRAME_BYTES",
    "Flood",
    "FloodProcess",
    "Flooder",
    "Target",
    "empty_maps_frame",
    "manager_targets",
    "peak_rss_bytes",
    "probe_version",
]

BIG_FRAME_BYTES = REMOTE_MAX_REQUEST_BYTES - 64 * 1024
SMALL_FRAME_BYTES = 60 * 1024  # within a stranger's 64 KiB


def empty_maps_frame(size: int, request_id: int = 1) -> bytes:
    """A ``ca.join`` envelope of about ``size`` bytes, most of them empty maps in one array
    of the body (field ``x``)."""
    head: bytes = msgpack.packb(
        {"v": 1, "t": "ca.join", "id": request_id, "b": {"token": "", "csr": b"", "hostname": ""}},
        use_bin_type=True,
    )
    count = max(0, size - len(head) - 8)
    # the body map gains a fourth field: its fixmap header 0x83 becomes 0x84
    at = head.index(b"\x83\xa5token")
    array = b"\xa1x\xdd" + count.to_bytes(4, "big") + b"\x80" * count
    return head[:at] + b"\x84" + head[at + 1 :] + array


@dataclass(frozen=True)
class Target:
    """One endpoint to flood: its address and CURVE server key."""

    name: str
    address: str
    server_key: bytes


def manager_targets(remote_api: str, state_dir: Path) -> list[Target]:
    """A manager's remote API (``HOST:PORT``, its server key read from its state dir) and
    its join-hello port."""
    remote = f"tcp://{remote_api}"
    return [
        Target("remote", remote, read_curve_keys(state_dir).public),
        Target("hello", hello_address(remote), hello_keypair().public),
    ]


class Flooder(threading.Thread):
    def __init__(self, target: Target, frame: bytes, frames: int) -> None:
        super().__init__(name=f"flood-{target.name}", daemon=True)
        self.target = target
        self.frame = frame
        self.frames = frames
        self.sent = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        keys = generate_keypair()
        ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        sock = ctx.socket(zmq.DEALER)
        sock.linger = 0
        sock.sndhwm = 2
        sock.sndtimeo = 200
        sock.curve_serverkey = self.target.server_key
        sock.curve_publickey = keys.public
        sock.curve_secretkey = keys.secret
        sock.connect(self.target.address)
        try:
            while self.sent < self.frames and not self.stopping.is_set():
                try:
                    sock.send(self.frame, copy=False)
                except zmq.Again:
                    continue
                self.sent += 1
        finally:
            ctx.destroy(linger=0)


class Flood:
    """Flooders on every target: ``big`` connections sending `BIG_FRAME_BYTES` frames and
    ``small`` connections sending `SMALL_FRAME_BYTES` frames, per target."""

    def __init__(self, flooders: Sequence[Flooder]) -> None:
        self.flooders = list(flooders)

    @classmethod
    def start(
        cls,
        targets: Iterable[Target],
        *,
        frames: int = sys.maxsize,
        big: int = 2,
        small: int = 1,
    ) -> Flood:
        big_frame = empty_maps_frame(BIG_FRAME_BYTES)
        small_frame = empty_maps_frame(SMALL_FRAME_BYTES)
        flooders = []
        for target in targets:
            flooders += [Flooder(target, big_frame, frames) for _ in range(big)]
            flooders += [Flooder(target, small_frame, frames) for _ in range(small)]
        for f in flooders:
            f.start()
        return cls(flooders)

    @property
    def running(self) -> bool:
        return any(f.is_alive() for f in self.flooders)

    def sent(self) -> dict[str, int]:
        """Frames handed to ZeroMQ so far, by target."""
        totals: dict[str, int] = {}
        for f in self.flooders:
            totals[f.target.name] = totals.get(f.target.name, 0) + f.sent
        return totals

    def stop(self, timeout: float = 10.0) -> None:
        for f in self.flooders:
            f.stopping.set()
        for f in self.flooders:
            f.join(timeout)

    def __enter__(self) -> Flood:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def peak_rss_bytes(pid: int) -> int:
    """The process's peak resident set size (``VmHWM``), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def probe_version(
    socket_path: Path,
    calls: int,
    *,
    seconds: float = 0.0,
    interval: float = 0.0,
    timeout: float = 30.0,
) -> list[float]:
    """Seconds each ``version`` request took on the control socket (what ``swarmctl
    version`` sends), one after another over one connection: ``calls`` of them, and more
    until ``seconds`` have passed, starting one every ``interval`` seconds at most."""
    latencies: list[float] = []
    with Client(f"ipc://{socket_path}", timeout=timeout, name="probe") as client:
        until = time.monotonic() + seconds
        while len(latencies) < calls or time.monotonic() < until:
            started = time.perf_counter()
            client.request("version")
            took = time.perf_counter() - started
            latencies.append(took)
            if interval > took:
                time.sleep(interval - took)
    return latencies


class FloodProcess:
    """`Flood` on a manager's two ports, in a child process, until `stop` (or the end of
    the ``with`` block); ``sent`` is then the frames it sent, by target."""

    def __init__(self, remote_api: str, state_dir: Path, *, big: int = 2, small: int = 1):
        root = Path(__file__).resolve().parents[2]
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.flood",
                "--remote-api",
                remote_api,
                "--state-dir",
                str(state_dir),
                "--big",
                str(big),
                "--small",
                str(small),
            ],
            cwd=root,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(root)},
        )
        self.sent: dict[str, int] = {}

    def wait_sending(self, timeout: float = 30.0) -> None:
        """Until the flooders are connected and sending (their first line)."""
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # printed once every flooder sent a frame
        if not line:
            raise RuntimeError(f"the flood process exited ({self.process.wait(timeout)})")

    def stop(self, timeout: float = 30.0) -> dict[str, int]:
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        assert self.process.stdout is not None
        out = self.process.stdout.read()
        self.process.wait(timeout)
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if lines:
            self.sent = {str(k): int(v) for k, v in json.loads(lines[-1]).items()}
        return self.sent

    def __enter__(self) -> FloodProcess:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self.process.poll() is None:
            try:
                self.stop()
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description="flood a manager's remote API and join port")
    parser.add_argument("--remote-api", required=True, help="HOST:PORT")
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--big", type=int, default=2, help="connections per port, 8 MiB frames")
    parser.add_argument("--small", type=int, default=1, help="connections per port, 60 KiB")
    args = parser.parse_args()
    flood = Flood.start(
        manager_targets(args.remote_api, args.state_dir), big=args.big, small=args.small
    )
    wait_for(
        lambda: not flood.running or all(f.sent for f in flood.flooders),
        "every flooder sending",
        timeout=60.0,
    )
    print(json.dumps({"sending": True}), flush=True)
    sys.stdin.read()  # until the parent closes it
    flood.stop()
    print(json.dumps(flood.sent()), flush=True)


if __name__ == "__main__":
    main()
