"""The local test image: a root file system holding Debian's static busybox.

No registry is reachable, so tests and benchmarks `docker import` this image once per run.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile

TEST_IMAGE = "swarmnode-test:busybox"
BUSYBOX_PATHS = ("/bin/busybox", "/usr/bin/busybox")


def find_static_busybox() -> str:
    for path in BUSYBOX_PATHS:
        if os.path.exists(path):
            return path
    found = shutil.which("busybox")
    if found is None:
        raise RuntimeError("no busybox binary: install Debian's busybox-static")
    return found


def busybox_rootfs_tar(busybox: str) -> bytes:
    """A tar of /bin/busybox plus one symlink per applet."""
    applets = subprocess.run(
        [busybox, "--list"], check=True, capture_output=True, text=True
    ).stdout.split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in ("bin", "tmp", "etc"):
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if name == "tmp" else 0o755
            tar.addfile(info)
        tar.add(busybox, arcname="bin/busybox")
        for applet in applets:
            if applet == "busybox":
                continue
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            tar.addfile(link)
    return buf.getvalue()


def ensure_test_image(client: object | None = None) -> str:
    """Import the test image into the local engine unless it is already there."""
    import docker

    docker_client = client if client is not None else docker.from_env()
    try:
        docker_client.images.get(TEST_IMAGE)  # type: ignore[attr-defined]
        return TEST_IMAGE
    except docker.errors.ImageNotFound:
        pass
    data = busybox_rootfs_tar(find_static_busybox())
    repository, tag = TEST_IMAGE.split(":")
    docker_client.api.import_image_from_data(  # type: ignore[attr-defined]
        data, repository=repository, tag=tag, changes=["ENV PATH=/bin"]
    )
    return TEST_IMAGE
