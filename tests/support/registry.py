"""A real image registry for tests: Debian's ``docker-registry`` (docker/distribution) on
127.0.0.1, plain HTTP (the engine treats 127.0.0.0/8 as an insecure registry by default),
with basic auth from an htpasswd file (``htpasswd -B``, Debian's ``apache2-utils``).

    with Registry.start(tmp_path, user="alice", password="...") as registry:
        image = registry.push(docker_client, "swarmnode-test:busybox", "app", "v1")

``push`` tags a local image into the registry, pushes it with the credentials and removes
the local tag again, so a node has to pull it. The registry process is stopped by its pid;
the images it stored live under the test's tmp dir.
"""

from __future__ import annotations

import shutil
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.support.swarm import free_port
from tests.support.waiting import wait_for

__all__ = ["REGISTRY_PROGRAMS", "Registry", "missing_registry_programs"]

REGISTRY_PROGRAMS = ("docker-registry", "htpasswd")


def missing_registry_programs() -> list[str]:
    return [p for p in REGISTRY_PROGRAMS if shutil.which(p) is None]


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1.0).close()
    except urllib.error.HTTPError as exc:
        return exc.code == 401  # up, and asking for credentials
    except OSError:
        return False
    return True


@dataclass
class Registry:
    address: str  # host:port
    user: str
    password: str
    process: subprocess.Popen[bytes]
    log_path: Path
    pushed: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, root: Path, *, user: str, password: str) -> Registry:
        root.mkdir(parents=True, exist_ok=True)
        hashed = subprocess.run(
            ["htpasswd", "-Bbn", user, password], check=True, capture_output=True, text=True
        ).stdout
        (root / "htpasswd").write_text(hashed)
        address = f"127.0.0.1:{free_port()}"
        (root / "config.yml").write_text(
            "version: 0.1\n"
            "log:\n  level: warn\n"
            f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
            f"http:\n  addr: {address}\n  secret: swarmnode-test\n"
            f"auth:\n  htpasswd:\n    realm: swarmnode-test\n    path: {root / 'htpasswd'}\n"
        )
        log_path = root / "registry.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                ["docker-registry", "serve", str(root / "config.yml")],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        registry = cls(address, user, password, process, log_path)
        try:
            wait_for(
                lambda: process.poll() is None and _answers(f"http://{address}/v2/"),
                f"the registry on {address}",
                30.0,
            )
        except AssertionError:
            registry.stop()
            tail = log_path.read_text()[-2000:]
            raise AssertionError(f"registry did not start: {tail}") from None
        return registry

    @property
    def auth(self) -> dict[str, str]:
        return {"username": self.user, "password": self.password}

    def push(self, docker_client: Any, local: str, repository: str, tag: str) -> str:
        """``local`` pushed as ``ADDRESS/REPOSITORY:TAG``, not kept on the engine."""
        remote = f"{self.address}/{repository}"
        docker_client.images.get(local).tag(remote, tag)
        try:
            for event in docker_client.api.push(
                remote, tag, stream=True, decode=True, auth_config=self.auth
            ):
                if event.get("error"):
                    raise AssertionError(f"push {remote}:{tag}: {event['error']}")
        finally:
            docker_client.api.remove_image(f"{remote}:{tag}")
        self.pushed.append(f"{remote}:{tag}")
        return f"{remote}:{tag}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def forget_pulled(self, docker_client: Any) -> None:
        """Remove what nodes pulled from this registry (the layers stay: they are the
        local image's)."""
        for image in self.pushed:
            try:
                docker_client.api.remove_image(image, force=True)
            except Exception as exc:  # not pulled, or pulled and already removed
                if "No such image" not in str(exc):
                    raise

    def __enter__(self) -> Registry:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
