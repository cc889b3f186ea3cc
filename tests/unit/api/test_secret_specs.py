"""Secret and config specs, and the references a container makes to them: validation,
the ``--secret``/``--config`` grammar and the ``-add``/``-rm`` edits."""

from __future__ import annotations

import pytest

from api.secret_refs import (
    apply_reference_options,
    config_target,
    parse_config_option,
    parse_secret_option,
    secret_target,
    validate_references,
)
from api.secret_validation import (
    MAX_DATA_BYTES,
    validate_config_spec,
    validate_secret_spec,
)
from api.service_options import apply_options
from api.specs import (
    ConfigReference,
    ConfigSpec,
    ContainerSpec,
    SecretReference,
    SecretSpec,
    ServiceSpec,
)
from api.validation import InvalidSpec, validate_service_spec


def test_secret_spec_rules() -> None:
    validate_secret_spec(SecretSpec(name="db.pass-1_x", data=b"s"))
    validate_config_spec(ConfigSpec(name="nginx.conf", data=b"x" * MAX_DATA_BYTES))
    for bad, field, words in [
        (SecretSpec(name="", data=b"s"), "name", "needs a name"),
        (SecretSpec(name="-x", data=b"s"), "name", "start and end character must be [a-zA-Z0-9]"),
        (SecretSpec(name="a" * 65, data=b"s"), "name", "only 64 [a-zA-Z0-9-_.] characters allowed"),
        (SecretSpec(name="a b", data=b"s"), "name", "'a b': invalid name, only 64 [a-zA-Z0-9-_.]"),
        (SecretSpec(name="ok", data=b""), "data", "needs data"),
        (SecretSpec(name="ok", data=b"x" * (MAX_DATA_BYTES + 1)), "data", "over the limit"),
        (
            SecretSpec(name="ok", data=b"s", labels={f"k{i}": "v" * 4000 for i in range(4)}),
            "labels",
            "left beside its data",
        ),
    ]:
        with pytest.raises(InvalidSpec) as err:
            validate_secret_spec(bad)
        assert err.value.field == field
        assert words in str(err.value)


def test_secret_option_grammar() -> None:
    assert parse_secret_option("db_pass") == SecretReference(
        secret_name="db_pass", target="db_pass", mode=0o444
    )
    assert parse_secret_option("source=db,target=app/pw,uid=70,gid=71,mode=0400") == (
        SecretReference(secret_name="db", target="app/pw", uid=70, gid=71, mode=0o400)
    )
    assert parse_secret_option("src=db,mode=400").mode == 0o400  # octal, as Docker's docs
    assert parse_secret_option("src=db,mode=0o440").mode == 0o440
    for bad, words in [
        ("target=x", "source is required"),
        ("source=db,color=red", "unknown field 'color'"),
        ("source=db,uid=root", "uid must be a number"),
        ("source=db,mode=0999", "mode must be an octal mode"),
    ]:
        with pytest.raises(InvalidSpec, match=words):
            parse_secret_option(bad)


def test_config_option_targets_are_absolute() -> None:
    assert parse_config_option("site").target == "/site"
    assert parse_config_option("source=site,target=etc/site.conf").target == "/etc/site.conf"
    assert config_target(ConfigReference(config_name="x")) == "/x"
    assert secret_target(SecretReference(secret_name="pw")) == "pw"


def test_references_are_validated() -> None:
    ok = ContainerSpec(
        image="i",
        secrets=(SecretReference(secret_name="a", target="a"),),
        configs=(ConfigReference(config_name="c", target="/etc/c"),),
    )
    validate_references(ok, "c")
    for bad, words in [
        (ContainerSpec(secrets=(SecretReference(target="x"),)), "needs the secret's name"),
        (
            ContainerSpec(secrets=(SecretReference(secret_name="a", target="/abs"),)),
            "not absolute",
        ),
        (
            ContainerSpec(secrets=(SecretReference(secret_name="a", target="../up"),)),
            "not a file path",
        ),
        (
            ContainerSpec(
                secrets=(
                    SecretReference(secret_name="a", target="same"),
                    SecretReference(secret_name="b", target="same"),
                )
            ),
            "target of both 'a' and 'b'",
        ),
        (
            ContainerSpec(
                secrets=(SecretReference(secret_name="a", target="pw"),),
                configs=(ConfigReference(config_name="c", target="/run/secrets/pw"),),
            ),
            "target of both",
        ),
        (ContainerSpec(secrets=(SecretReference(secret_name="a", mode=0o1777),)), "0..0777"),
        (ContainerSpec(configs=(ConfigReference(config_name="c", uid=-1),)), "uid"),
        (ContainerSpec(configs=(ConfigReference(config_name="c", target="/"),)), "file path"),
    ]:
        with pytest.raises(InvalidSpec, match=words):
            validate_references(bad, "c")


def test_rotation_the_docker_way() -> None:
    """--secret-rm old --secret-add new,target=same: the old reference goes, the new one
    takes its target (rm is applied before add)."""
    spec = apply_options(
        ServiceSpec(),
        {"name": "web", "image": "busybox", "secrets": ["source=pw_v1,target=pw"]},
    )
    validate_service_spec(spec)
    rotated = apply_options(
        spec, {"secret_rm": ["pw_v1"], "secret_add": ["source=pw_v2,target=pw"]}
    )
    validate_service_spec(rotated)
    assert rotated.task.container.secrets == (SecretReference(secret_name="pw_v2", target="pw"),)
    kept = SecretReference(secret_id="id1", secret_name="keep", target="keep")
    c = ContainerSpec(secrets=(kept,))
    assert apply_reference_options(c, {"secret_rm": ["id1"]}).secrets == ()  # by id too
    assert apply_reference_options(c, {}) is c


def test_configs_options() -> None:
    spec = apply_options(
        ServiceSpec(), {"name": "web", "image": "i", "configs": ["site", "source=x,target=/x.conf"]}
    )
    assert [c.target for c in spec.task.container.configs] == ["/site", "/x.conf"]
    spec = apply_options(spec, {"config_rm": ["site"]})
    assert [c.config_name for c in spec.task.container.configs] == ["x"]
