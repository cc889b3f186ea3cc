"""A volume mount's options (Docker's volume-driver, volume-opt, volume-label,
volume-nocopy): the --mount syntax, the spec's checks and bounds, the object codec."""

from __future__ import annotations

from dataclasses import replace

import pytest

from api.codec_objects import decode, encode
from api.enums import MountType
from api.mounts import MAX_VOLUME_OPTIONS, parse_mount, validate_mounts
from api.service_options import apply_options
from api.spec_limits import InvalidSpec
from api.specs import ContainerSpec, Mount, ServiceSpec, TaskSpec, VolumeDriver, VolumeOptions
from api.validation import validate_service_spec

TMPFS_VOLUME = (
    "type=volume,source=scratch,target=/d,volume-driver=local,"
    "volume-opt=type=tmpfs,volume-opt=device=tmpfs"
)


def _spec(*mounts: Mount) -> ServiceSpec:
    container = ContainerSpec(image="x", mounts=mounts)
    return ServiceSpec(name="web", task=TaskSpec(container=container))


def test_docker_volume_options_parse() -> None:
    mount = parse_mount(TMPFS_VOLUME)
    assert mount == Mount(
        MountType.VOLUME,
        "scratch",
        "/d",
        volume_options=VolumeOptions(
            driver=VolumeDriver("local", {"type": "tmpfs", "device": "tmpfs"})
        ),
    )


def test_labels_nocopy_and_a_quoted_option_with_commas() -> None:
    text = (
        "source=data,target=/data,volume-label=team=web,volume-label=tier,volume-nocopy,"
        '"volume-opt=o=size=1m,uid=1000"'
    )
    options = parse_mount(text).volume_options
    assert options == VolumeOptions(
        nocopy=True,
        labels={"team": "web", "tier": ""},
        driver=VolumeDriver("", {"o": "size=1m,uid=1000"}),
    )
    assert parse_mount("source=data,target=/d,volume-nocopy=false").volume_options == (
        VolumeOptions(nocopy=False)
    )


def test_a_mount_without_volume_options_has_none() -> None:
    assert parse_mount("source=data,target=/data").volume_options is None


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("type=tmpfs,target=/x,volume-opt=size=1", "volume-* options are for type=volume"),
        ("source=data,target=/x,volume-opt", "volume-opt needs a value"),
        ("source=data,target=/x,volume-opt==x", "volume-opt needs KEY=VALUE"),
        ("source=data,target=/x,volume-label=", "volume-label needs KEY=VALUE"),
        ("source=data,target=/x,volume-nocopy=perhaps", "true or false"),
        ("source=data,target=/x,volume-driver=a b", "not a volume driver's name"),
        ('source=data,target=/x,"volume-opt=a', "--mount:"),
    ],
)
def test_bad_volume_options(text: str, fragment: str) -> None:
    with pytest.raises(InvalidSpec, match="--mount") as caught:
        parse_mount(text)
    assert fragment in str(caught.value)


def test_spec_checks_name_the_field_and_bound_the_counts() -> None:
    bind = Mount(MountType.BIND, "/srv", "/srv", volume_options=VolumeOptions(nocopy=True))
    with pytest.raises(InvalidSpec, match=r"mounts\[0\]\.volume_options: .* not a bind mount"):
        validate_mounts([bind], "mounts")
    many = {f"k{i}": "v" for i in range(MAX_VOLUME_OPTIONS + 1)}
    volume = Mount(target="/d", volume_options=VolumeOptions(driver=VolumeDriver("local", many)))
    with pytest.raises(InvalidSpec, match=r"volume_options\.driver\.options: .*over the limit"):
        validate_mounts([volume], "mounts")
    huge = VolumeOptions(driver=VolumeDriver("local", {"o": "x" * 5000}))
    with pytest.raises(InvalidSpec, match=r"driver\.options\.o: .*over the limit"):
        validate_mounts([replace(volume, volume_options=huge)], "mounts")
    not_text = VolumeOptions(driver=VolumeDriver("local", {"o": 1}))  # type: ignore[dict-item]
    with pytest.raises(InvalidSpec, match="option values must be strings"):
        validate_mounts([replace(volume, volume_options=not_text)], "mounts")
    labels = VolumeOptions(labels={"": "x"})
    with pytest.raises(InvalidSpec, match=r"volume_options\.labels"):
        validate_mounts([replace(volume, volume_options=labels)], "mounts")


def test_mount_options_reach_the_spec_and_survive_the_codec() -> None:
    spec = apply_options(_spec(), {"mounts": [TMPFS_VOLUME]})
    validate_service_spec(spec)
    (mount,) = spec.task.container.mounts
    assert mount.volume_options is not None
    assert mount.volume_options.driver == VolumeDriver(
        "local", {"type": "tmpfs", "device": "tmpfs"}
    )
    assert decode(ServiceSpec, encode(spec), strict=True) == spec


def test_a_spec_encoded_before_volume_options_decodes() -> None:
    # a store or peer of the previous version writes mounts without the field
    data = encode(_spec(Mount(MountType.VOLUME, "data", "/data")))
    del data["task"]["container"]["mounts"][0]["volume_options"]
    assert decode(ServiceSpec, data, strict=True).task.container.mounts[0].volume_options is None
