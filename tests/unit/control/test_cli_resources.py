"""swarmctl's port, mount, network and registry-auth flags, and where
``--with-registry-auth`` finds credentials (cli/registry_auth.py, api/image_ref.py)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from api.image_ref import ImageRef, parse_image, registry_key
from cli.ctl import build_parser
from cli.errors import CliError
from cli.registry_auth import credentials_for
from cli.service_flags import options_of


def parse(*argv: str) -> object:
    return build_parser().parse_args(list(argv))


def test_resource_flags_become_options() -> None:
    args = parse(
        "service", "create", "-p", "8080:80", "--publish", "target=53,protocol=udp",
        "--mount", "source=data,target=/data", "--network", "backend",
        "--with-registry-auth", "img",
    )  # fmt: skip
    assert options_of(args) == {  # type: ignore[arg-type]
        "publish": ["8080:80", "target=53,protocol=udp"],
        "mounts": ["source=data,target=/data"],
        "networks": ["backend"],
    }
    assert args.with_registry_auth  # type: ignore[attr-defined]
    update = parse(
        "service", "update", "--publish-rm", "80", "--publish-rm", "18080:81/udp",
        "--publish-add", "81",
        "--mount-rm", "/data", "--network-rm", "a", "--network-add", "b", "web",
    )  # fmt: skip
    assert options_of(update) == {  # type: ignore[arg-type]
        "publish_rm": ["80", "18080:81/udp"],
        "publish_add": ["81"],
        "mount_rm": ["/data"],
        "network_rm": ["a"],
        "network_add": ["b"],
    }


@pytest.mark.parametrize(
    "argv",
    [
        ("-p", "published=80,target=80,mode=vip"),
        ("--mount", "type=bind,source=rel,target=/x"),
        ("--publish", "80-81"),
        ("--network", "name=x,driver=overlay"),
    ],
)
def test_bad_resource_flags_are_refused_by_argparse(
    argv: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        parse("service", "create", *argv, "img")
    assert caught.value.code == 2
    assert argv[0].lstrip("-") in capsys.readouterr().err


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("busybox", ImageRef("docker.io", "library/busybox")),
        ("busybox:1.36", ImageRef("docker.io", "library/busybox", "1.36")),
        ("team/app", ImageRef("docker.io", "team/app")),
        ("127.0.0.1:5000/app:1", ImageRef("127.0.0.1:5000", "app", "1")),
        ("localhost/app", ImageRef("localhost", "app")),
        (
            "Registry.Example.com/a/b@sha256:abc",
            ImageRef("registry.example.com", "a/b", "", "sha256:abc"),
        ),
        ("127.0.0.1:5000/app", ImageRef("127.0.0.1:5000", "app")),
    ],
)
def test_parse_image(reference: str, expected: ImageRef) -> None:
    assert parse_image(reference) == expected


def test_registry_keys() -> None:
    assert registry_key("https://index.docker.io/v1/") == "docker.io"
    assert registry_key("http://127.0.0.1:5000/v2/") == "127.0.0.1:5000"
    assert registry_key("Registry.Example.com") == "registry.example.com"


def _config(tmp_path: Path, document: dict[str, object]) -> dict[str, str]:
    (tmp_path / "config.json").write_text(json.dumps(document))
    return {"DOCKER_CONFIG": str(tmp_path)}


def test_credentials_from_auths(tmp_path: Path) -> None:
    basic = base64.b64encode(b"alice:s3cret:with-colon").decode()
    env = _config(
        tmp_path,
        {
            "auths": {
                "http://127.0.0.1:5000": {"auth": basic},
                "https://index.docker.io/v1/": {"identitytoken": "tok"},
                "other.example.com": {"auth": base64.b64encode(b"bob:pw").decode()},
            }
        },
    )
    assert credentials_for("127.0.0.1:5000/app:1", env=env) == {
        "server_address": "http://127.0.0.1:5000",
        "username": "alice",
        "password": "s3cret:with-colon",
    }
    hub = credentials_for("busybox", env=env)
    assert hub["identity_token"] == "tok" and hub["password"] == ""
    with pytest.raises(CliError, match=r"no credentials for registry 127\.0\.0\.2:5000"):
        credentials_for("127.0.0.2:5000/app", env=env)


def test_credentials_from_a_helper(tmp_path: Path) -> None:
    env = _config(tmp_path, {"credsStore": "desktop", "credHelpers": {"gcr.io": "gcloud"}})
    asked: list[tuple[str, str]] = []

    def helper(name: str, server: str) -> str:
        asked.append((name, server))
        if name == "gcloud":
            return json.dumps({"ServerURL": server, "Username": "<token>", "Secret": "idtok"})
        return json.dumps({"ServerURL": server, "Username": "u", "Secret": "p"})

    assert credentials_for("gcr.io/proj/app", env=env, run_helper=helper)["identity_token"] == (
        "idtok"
    )
    assert credentials_for("busybox", env=env, run_helper=helper)["password"] == "p"
    assert asked == [("gcloud", "gcr.io"), ("desktop", "https://index.docker.io/v1/")]


def test_no_config_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CliError, match=r"docker login 127\.0\.0\.1:5000"):
        credentials_for("127.0.0.1:5000/app", env={"DOCKER_CONFIG": str(tmp_path)})
    env = _config(tmp_path, {"auths": {"127.0.0.1:5000": {"auth": "%%%"}}})
    with pytest.raises(CliError, match="not base64"):
        credentials_for("127.0.0.1:5000/app", env=env)
