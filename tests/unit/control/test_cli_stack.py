"""swarmctl stack deploy's reading of compose files: YAML as Docker reads it, files
merged, paths taken from the first file's directory, refusals on one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cli.errors import CliError
from cli.stack_deploy import compose_loader, load_files


def test_yaml_without_base_60_numbers_or_timestamps() -> None:
    text = "a: 12:30\nb: [22:22, 8080:80, 0440, 1.5, 0x1f, 1_000, 2024-01-02, true, null, -3]"
    assert yaml.load(text, Loader=compose_loader()) == {
        "a": "12:30",
        "b": ["22:22", "8080:80", 0o440, 1.5, 31, 1000, "2024-01-02", True, None, -3],
    }


def test_files_merge_and_paths_are_the_first_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STACK_TEST_TAG", "1.2")
    app = tmp_path / "app"
    app.mkdir()
    (app / "base.yml").write_text(
        "services:\n  web:\n    image: busybox:${STACK_TEST_TAG}\n"
        "    environment: {TIME: 12:30}\n    secrets: [pw]\nsecrets:\n  pw: {file: ./pw.txt}\n"
    )
    (tmp_path / "prod.yml").write_text("services:\n  web:\n    deploy: {replicas: 3}\n")
    plan = load_files("st", [str(app / "base.yml"), str(tmp_path / "prod.yml")])
    (web,) = plan.services
    assert web.task.container.image == "busybox:1.2"
    assert web.task.container.env == ("TIME=12:30",)
    assert web.mode.replicas == 3  # type: ignore[union-attr]
    assert plan.secrets[0].file == str(app / "pw.txt")


def test_refusals_name_the_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("services:\n  web:\n    image: busybox\n    links: [db]\n")
    with pytest.raises(CliError, match=r"bad\.yml: services\.web\.links: not supported"):
        load_files("st", [str(bad)])
    with pytest.raises(CliError, match=r"cannot read .*nope\.yml"):
        load_files("st", [str(tmp_path / "nope.yml")])


def test_env_files_are_read_from_the_compose_files_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docker stack deploy's env_file: paths from the compose file's directory, later files
    over earlier ones, ``environment:`` over them all; a bare name takes the client's."""
    monkeypatch.setenv("STACK_TEST_FROM_CLIENT", "client")
    monkeypatch.delenv("STACK_TEST_UNSET", raising=False)
    app = tmp_path / "app"
    (app / "env").mkdir(parents=True)
    (app / "env" / "common.env").write_text(
        "# shared\nA=from-common\nB=from-common\nSTACK_TEST_FROM_CLIENT\nSTACK_TEST_UNSET\n"
    )
    (app / "env" / "web.env").write_text("B=from-web\nC=from-web=x\n")
    (app / "stack.yml").write_text(
        "services:\n  web:\n    image: busybox\n"
        "    env_file: [./env/common.env, env/web.env]\n"
        "    environment: {C: from-environment}\n"
        "  worker:\n    image: busybox\n    env_file: env/web.env\n"
    )
    with monkeypatch.context() as m:
        m.chdir(tmp_path)  # relative to the file, not to where swarmctl runs
        plan = load_files("st", ["app/stack.yml"])
    web, worker = plan.services
    assert web.task.container.env == (
        "A=from-common",
        "B=from-web",
        "C=from-environment",
        "STACK_TEST_FROM_CLIENT=client",
    )
    assert worker.task.container.env == ("B=from-web", "C=from-web=x")


def test_an_env_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    compose = tmp_path / "stack.yml"
    compose.write_text("services:\n  web:\n    image: busybox\n    env_file: [missing.env]\n")
    with pytest.raises(CliError) as info:
        load_files("st", [str(compose)])
    assert str(info.value) == (
        f"{compose}: services.web.env_file[0]: env file {tmp_path / 'missing.env'}: "
        "No such file or directory"
    )
    (tmp_path / "bad.env").write_text("GOOD=1\nBAD KEY=2\n")
    compose.write_text("services:\n  web:\n    image: busybox\n    env_file: bad.env\n")
    with pytest.raises(CliError, match=r"env_file: env file .*bad\.env, line 2: variable 'BAD "):
        load_files("st", [str(compose)])


class _Listing:
    """A control connection that lists the given secrets."""

    def __init__(self, rows: list[dict[str, object]]) -> None:
        self.rows = rows

    def request(self, kind: str, body: object = None) -> dict[str, object]:
        assert kind == "control.secret.ls", kind
        return {"secrets": self.rows}


def test_a_stack_secret_kept_only_with_the_same_template_driver() -> None:
    """A secret's data cannot be compared, its template driver can: a redeploy that adds
    (or drops) ``template_driver`` must not keep the old secret, whose tasks would get the
    raw template (or expand plain data)."""
    from api.compose import FileObjectPlan
    from cli.stack_deploy import _missing_objects

    said: list[str] = []
    plain = {"name": "st_pw", "templating": ""}
    templated = FileObjectPlan(key="pw", name="st_pw", file="pw", template_driver="golang")
    with pytest.raises(CliError, match="secret st_pw exists with another template driver"):
        _missing_objects(_Listing([plain]), "secret", (templated,), {}, said.append)  # type: ignore[arg-type]
    same = FileObjectPlan(key="pw", name="st_pw", file="pw")
    assert _missing_objects(_Listing([plain]), "secret", (same,), {}, said.append) == []  # type: ignore[arg-type]
    assert said and said[0].startswith("Keeping secret st_pw")
