"""A unix socket in front of the Docker engine's, for tests that break a client's
connections to the engine: each connection is forwarded to the engine as it is, and the
test can see what each one asked first, cut them, and refuse new ones.

    with EngineProxy(tmp_path) as proxy:
        client = docker.DockerClient(base_url=proxy.url)
        ...
        proxy.refusing = True      # new connections are closed at once
        proxy.cut("/events")       # open ones whose first request was /events, closed
        proxy.open_now("/events")  # how many such are open

The Docker SDK keeps a connection pool per URL, so a connection's first request line
says what it is for (a long ``GET /events``, a blocking ``POST .../wait``).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path
from types import TracebackType

__all__ = ["ENGINE_SOCKET", "EngineProxy"]

ENGINE_SOCKET = "/var/run/docker.sock"
_CHUNK = 65536


class _Link:
    def __init__(self, client: socket.socket, engine: socket.socket, first: bytes) -> None:
        self.client = client
        self.engine = engine
        self.request = first.split(b"\r\n", 1)[0].decode("latin-1")  # "GET /v1.41/... HTTP/1.1"
        self.closed = threading.Event()

    def close(self) -> None:
        for sock in (self.client, self.engine):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self.closed.set()


class EngineProxy:
    def __init__(self, directory: Path, engine: str = ENGINE_SOCKET) -> None:
        self.path = str(directory / "engine-proxy.sock")
        self.url = f"unix://{self.path}"
        self.refusing = False
        self._engine = engine
        self._lock = threading.Lock()
        self._links: list[_Link] = []
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)

    def __enter__(self) -> EngineProxy:
        self._listener.bind(self.path)
        self._listener.listen(64)
        threading.Thread(target=self._accept, name="engine-proxy", daemon=True).start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self.cut("")

    def opened(self, path_part: str) -> int:
        """Connections opened so far whose first request names ``path_part``."""
        with self._lock:
            return sum(1 for link in self._links if path_part in link.request)

    def open_now(self, path_part: str) -> int:
        """Connections open now whose first request names ``path_part``."""
        with self._lock:
            return sum(
                1 for link in self._links if path_part in link.request and not link.closed.is_set()
            )

    def cut(self, path_part: str) -> int:
        """Close the open connections whose first request names ``path_part`` ("": all);
        how many."""
        with self._lock:
            links = [
                link
                for link in self._links
                if path_part in link.request and not link.closed.is_set()
            ]
        for link in links:
            link.close()
        return len(links)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            if self.refusing:
                client.close()
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            first = client.recv(_CHUNK)
            engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            engine.connect(self._engine)
            engine.sendall(first)
        except OSError:
            client.close()
            return
        link = _Link(client, engine, first)
        with self._lock:
            self._links.append(link)
        threading.Thread(target=self._pump, args=(engine, client, link), daemon=True).start()
        self._pump(client, engine, link)

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket, link: _Link) -> None:
        try:
            while data := source.recv(_CHUNK):
                sink.sendall(data)
        except OSError:
            pass
        link.close()
