"""``--with-registry-auth``: the user's credentials for an image's registry, from their
docker config, as ``docker service create --with-registry-auth`` finds them.

The config is ``$DOCKER_CONFIG/config.json`` (default ``~/.docker/config.json``). A
registry's credentials come from its credential helper (``credHelpers``, else
``credsStore``: ``docker-credential-NAME get``, the server on stdin, JSON on stdout), else
from ``auths`` (``auth``: base64 of ``user:password``, or ``identitytoken``). Credentials
are found for the image's registry only (api/image_ref.py), so they go nowhere else; none
found is an error, not an empty login. They leave this process only in the request to the
manager, and are never printed.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from api.image_ref import DOCKER_HUB, DOCKER_HUB_INDEX, parse_image, registry_key
from cli.errors import CliError

__all__ = ["HELPER_TIMEOUT", "credentials_for", "docker_config_path"]

HELPER_TIMEOUT = 30.0  # seconds a credential helper may take (it may ask the user)
HelperRunner = Callable[[str, str], str]


def docker_config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("DOCKER_CONFIG") or str(Path.home() / ".docker")
    return Path(base) / "config.json"


def _run_helper(helper: str, server: str) -> str:
    program = f"docker-credential-{helper}"
    try:
        done = subprocess.run(
            [program, "get"],
            input=server,
            capture_output=True,
            text=True,
            timeout=HELPER_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CliError(f"--with-registry-auth: credential helper {program} failed: {exc}") from None
    if done.returncode != 0:
        reason = done.stdout.strip() or done.stderr.strip() or f"exit {done.returncode}"
        raise CliError(
            f"--with-registry-auth: {program} has no credentials for {server}: {reason[:200]}"
        )
    return done.stdout


def _from_helper(helper: str, server: str, run: HelperRunner) -> dict[str, str]:
    try:
        found = json.loads(run(helper, server))
        username, secret = str(found["Username"]), str(found["Secret"])
    except (ValueError, KeyError, TypeError):
        raise CliError(
            f"--with-registry-auth: docker-credential-{helper} answered something that is "
            "not its JSON"
        ) from None
    if username == "<token>":  # the helper's way of handing an identity token
        return {"server_address": server, "username": "", "password": "", "identity_token": secret}
    return {"server_address": server, "username": username, "password": secret}


def _from_auths(entry: Mapping[str, Any], server: str, path: Path) -> dict[str, str]:
    token = str(entry.get("identitytoken") or "")
    username = str(entry.get("username") or "")
    password = str(entry.get("password") or "")
    encoded = entry.get("auth")
    if encoded:
        try:
            decoded = base64.b64decode(str(encoded), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise CliError(
                f"--with-registry-auth: the entry for {server} in {path} is not "
                "base64 of user:password"
            ) from None
        username, sep, password = decoded.partition(":")
        if not sep:
            raise CliError(
                f"--with-registry-auth: the entry for {server} in {path} is not user:password"
            )
    if not (password or token):
        raise CliError(f"--with-registry-auth: the entry for {server} in {path} holds no secret")
    auth = {"server_address": server, "username": username, "password": password}
    if token:
        auth["identity_token"] = token
    return auth


def credentials_for(
    image: str,
    *,
    env: Mapping[str, str] | None = None,
    run_helper: HelperRunner = _run_helper,
) -> dict[str, str]:
    """The ``registry_auth`` body for ``image``; CliError says why there is none."""
    try:
        registry = parse_image(image).registry
    except ValueError as exc:
        raise CliError(f"--with-registry-auth: {exc}") from None
    path = docker_config_path(env)
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        config = {}
    except (OSError, ValueError) as exc:
        raise CliError(f"--with-registry-auth: cannot read {path}: {exc}") from None
    if not isinstance(config, dict):
        raise CliError(f"--with-registry-auth: {path} is not a docker config")
    server = DOCKER_HUB_INDEX if registry == DOCKER_HUB else registry
    helpers = config.get("credHelpers") or {}
    helper = next(
        (str(h) for key, h in helpers.items() if registry_key(str(key)) == registry), None
    )
    if helper is None and config.get("credsStore"):
        helper = str(config["credsStore"])
    if helper:
        return _from_helper(helper, server, run_helper)
    for key, entry in (config.get("auths") or {}).items():
        if registry_key(str(key)) == registry and isinstance(entry, dict):
            return _from_auths(entry, str(key), path)
    login = "docker login" if registry == DOCKER_HUB else f"docker login {registry}"
    raise CliError(
        f"--with-registry-auth: no credentials for registry {registry} in {path} "
        f"(log in first: {login})"
    )
