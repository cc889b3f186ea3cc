"""A service's mounts in Docker's JSON (pure), both ways: ``Mounts[]`` of a ContainerSpec
→ our `Mount`s (service create and update), and back (service inspect).

A volume mount's ``VolumeOptions`` (``NoCopy``, ``Labels``, ``DriverConfig{Name,
Options}``) are kept; all at their zero values (the docker SDK may send
``{"NoCopy": false}``) they are none. ``Subpath``, ``BindOptions``, ``TmpfsOptions``,
``ImageOptions``, ``ClusterOptions`` and ``Consistency`` set to anything, and the mount
types swarmnode has not (``npipe``; 1.42's ``cluster`` volumes; 1.48's ``image``), are
refused naming their path (501). Whether the options fit
the mount (a volume's only) and their sizes are api/mounts.py's checks, as for every spec.
"""

from __future__ import annotations

from typing import Any

from actors.engine_api.doc_fields import (
    Doc,
    enum_value,
    get,
    is_set,
    labels_at,
    list_at,
    object_at,
    refuse_set,
    str_at,
)
from actors.engine_api.errors import bad_request, not_supported
from api.enums import MountType
from api.specs import Mount, VolumeDriver, VolumeOptions

__all__ = ["docker_mounts", "mounts_from_docker"]

_MOUNT_UNSUPPORTED = (
    "Consistency",
    "BindOptions",
    "TmpfsOptions",
    "ImageOptions",
    "ClusterOptions",
)
_DOCKER_ONLY_TYPES = ("npipe", "cluster", "image")  # Docker's mount types we do not serve
_VOLUME_UNSUPPORTED = ("Subpath",)


def _volume_options(mount: Doc, path: str) -> VolumeOptions | None:
    doc = object_at(mount, "VolumeOptions", path)
    if not is_set(doc):
        return None
    sub = f"{path}VolumeOptions."
    refuse_set(doc, _VOLUME_UNSUPPORTED, sub)
    nocopy = get(doc, "NoCopy", False)
    if not isinstance(nocopy, bool):
        raise bad_request(f"{sub}NoCopy: expected true or false")
    driver = None
    config = object_at(doc, "DriverConfig", sub)
    if is_set(config):
        at = f"{sub}DriverConfig."
        driver = VolumeDriver(str_at(config, "Name", at), labels_at(config, "Options", at))
    return VolumeOptions(nocopy=nocopy, labels=labels_at(doc, "Labels", sub), driver=driver)


def mounts_from_docker(container: Doc, path: str) -> tuple[Mount, ...]:
    """``container``'s ``Mounts`` (``path``: the ContainerSpec's, ending in a dot)."""
    mounts = []
    for i, mount in enumerate(list_at(container, "Mounts", path)):
        sub = f"{path}Mounts[{i}]."
        if not isinstance(mount, dict):
            raise bad_request(f"{path}Mounts[{i}]: expected an object")
        refuse_set(mount, _MOUNT_UNSUPPORTED, sub)
        if str_at(mount, "Type", sub) in _DOCKER_ONLY_TYPES:
            raise not_supported(f"{sub}Type {get(mount, 'Type')!r}")
        kind = enum_value(str_at(mount, "Type", sub), MountType, f"{sub}Type", MountType.VOLUME)
        mounts.append(
            Mount(
                type=kind,
                source=str_at(mount, "Source", sub),
                target=str_at(mount, "Target", sub),
                readonly=bool(get(mount, "ReadOnly")),
                volume_options=_volume_options(mount, sub),
            )
        )
    return tuple(mounts)


def _docker_volume_options(options: VolumeOptions) -> dict[str, Any]:
    # Docker omits the empty ones (``json:",omitempty"``)
    doc: dict[str, Any] = {"NoCopy": options.nocopy} if options.nocopy else {}
    if options.labels:
        doc["Labels"] = dict(options.labels)
    if options.driver is not None:
        driver: dict[str, Any] = {"Name": options.driver.name} if options.driver.name else {}
        if options.driver.options:
            driver["Options"] = dict(options.driver.options)
        doc["DriverConfig"] = driver
    return doc


def docker_mounts(mounts: tuple[Mount, ...]) -> list[dict[str, Any]]:
    """Our mounts as a ContainerSpec's ``Mounts`` in Docker's JSON."""
    out = []
    for m in mounts:
        doc: dict[str, Any] = {
            "Type": m.type.value,
            "Source": m.source,
            "Target": m.target,
            "ReadOnly": m.readonly,
        }
        if m.volume_options is not None:
            doc["VolumeOptions"] = _docker_volume_options(m.volume_options)
        out.append(doc)
    return out
