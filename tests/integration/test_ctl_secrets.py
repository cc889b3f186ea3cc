"""The real swarmctl process against a real control endpoint (ipc://, real transport, the
control handlers over a MemoryStore.local): secrets and configs from files and stdin, a
secret's data in no output, services that use them, removal refused while in use."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

from actors.store import secrets, services
from tests.integration import test_ctl_service
from tests.integration.test_ctl_service import DEADLINE, ROOT, Ctl

ctl = test_ctl_service.ctl  # the fixture: swarmctl against a real control endpoint

DATA = b"correct horse battery staple\n"


def from_stdin(ctl: Ctl, data: bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "cli.ctl", "--socket", str(ctl.socket), *args],
        cwd=ROOT,
        input=data,
        capture_output=True,
        timeout=DEADLINE,
    )


def test_secret_data_goes_in_and_never_comes_out(ctl: Ctl, tmp_path: Path) -> None:
    path = tmp_path / "pw.txt"
    path.write_bytes(DATA)
    created = ctl.run("secret", "create", "--label", "env=prod", "db_pass", str(path))
    assert created.returncode == 0, created.stderr
    sid = created.stdout.strip()
    stored = ctl.store.view(lambda tx: secrets.get(tx, sid))
    assert stored is not None and stored.spec.data == DATA
    piped = from_stdin(ctl, b"from a pipe", "secret", "create", "api_key", "-")
    assert piped.returncode == 0, piped.stderr
    outputs = [
        ctl.run("secret", "ls"),
        ctl.run("secret", "ls", "--format", "json"),
        ctl.run("secret", "inspect", "db_pass", "api_key"),
        ctl.run("secret", "inspect", "db_pass", "--format", "json"),
    ]
    for out in outputs:
        assert out.returncode == 0, out.stderr
        for secret_text in ("correct horse", "from a pipe"):
            assert secret_text not in out.stdout
            assert base64.b64encode(secret_text.encode()).decode()[:12] not in out.stdout
    assert "db_pass" in outputs[0].stdout and "api_key" in outputs[0].stdout
    [doc] = ctl.json("secret", "inspect", "db_pass")
    assert doc["id"] == sid and doc["spec"]["labels"] == {"env": "prod"}
    assert "data" not in doc["spec"]
    line = ctl.refused("secret", "create", "db_pass", str(path))
    assert "secret name 'db_pass' is already in use" in line  # the message, not its code
    line = ctl.refused("secret", "create", "db pass", str(path))
    assert line.endswith(  # SwarmKit's words, naming the characters allowed
        "'db pass': invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start "
        "and end character must be [a-zA-Z0-9]"
    ), line
    empty = from_stdin(ctl, b"", "secret", "create", "nothing")
    assert empty.returncode != 0 and b"is empty" in empty.stderr


def test_a_config_shows_its_data(ctl: Ctl, tmp_path: Path) -> None:
    path = tmp_path / "site.conf"
    path.write_bytes(b"listen 80;\n")
    assert ctl.run("config", "create", "site", str(path)).returncode == 0
    [doc] = ctl.json("config", "inspect", "site")
    assert base64.b64decode(doc["spec"]["data"]) == b"listen 80;\n"
    assert "Data:\nlisten 80;" in ctl.run("config", "inspect", "site").stdout
    removed = ctl.run("config", "rm", "site")
    assert (removed.returncode, removed.stdout) == (0, "site\n")  # the name, as Docker's
    again = ctl.run("config", "create", "site", str(path))
    assert ctl.json("config", "rm", "site") == [again.stdout.strip()]  # json: the ids


def test_services_use_them_and_rm_is_refused_while_they_do(ctl: Ctl, tmp_path: Path) -> None:
    for name in ("pw_v1", "pw_v2"):
        assert from_stdin(ctl, name.encode(), "secret", "create", name).returncode == 0
    assert from_stdin(ctl, b"conf", "config", "create", "app.conf").returncode == 0
    created = ctl.run(
        "service", "create", "--name", "web", "--detach",
        "--secret", "source=pw_v1,target=db/password,mode=0400,uid=70",
        "--config", "app.conf", "busybox", "sleep", "60",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    refs = ctl.store.view(lambda tx: services.by_name(tx, "web")).spec.task.container
    assert [(r.secret_name, r.target, r.mode, r.uid) for r in refs.secrets] == [
        ("pw_v1", "db/password", 0o400, 70)
    ]
    assert [(r.config_name, r.target) for r in refs.configs] == [("app.conf", "/app.conf")]
    pretty = ctl.run("service", "inspect", "web").stdout
    assert "pw_v1 -> db/password (mode 0400)" in pretty
    line = ctl.refused("secret", "rm", "pw_v1")
    assert "secret 'pw_v1' is in use by service web" in line
    assert "config 'app.conf' is in use" in ctl.refused("config", "rm", "app.conf")
    missing = ctl.refused(
        "service", "create", "--name", "api", "--detach", "--secret", "nope", "busybox"
    )
    assert "secret 'nope' not found" in missing
    rotated = ctl.run(
        "service", "update", "--detach", "--secret-rm", "pw_v1",
        "--secret-add", "source=pw_v2,target=db/password,mode=0400,uid=70", "web",
    )  # fmt: skip
    assert rotated.returncode == 0, rotated.stderr
    removed = ctl.run("secret", "rm", "pw_v1")
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout == "pw_v1\n"  # the name given, as docker secret rm prints it
    assert [s["name"] for s in ctl.json("secret", "ls")] == ["pw_v2"]
