"""Templated secrets and configs (``--template-driver golang``): the calls a payload may
make, what they read, the refusals at create, and the bound on what a template makes."""

from __future__ import annotations

import pytest

from api.payload_templates import PayloadSources, check_template_driver, expand_payload
from api.secret_validation import MAX_DATA_BYTES, validate_config_spec, validate_secret_spec
from api.spec_limits import InvalidSpec
from api.specs import ConfigSpec, ContainerSpec, SecretSpec
from api.template_syntax import PAYLOAD_FUNCTIONS, parse_template
from api.templates import TemplateContext, TemplateError, example_context, expand_container

CTX = TemplateContext(
    service_id="svc1",
    service_name="web",
    service_labels={"tier": "front"},
    node_id="n1",
    node_hostname="box-1",
    task_id="t1",
    task_name="web.2.t1",
    task_slot="2",
)
SOURCES = PayloadSources(
    secrets={"db_pass": b"hunter2", "tls/key": b"K"},
    configs={"/etc/site.conf": b"listen 80;"},
    env=("MODE=blue", "EMPTY=", "NOVALUE", "EQ=a=b"),
)


def expand(data: bytes, limit: int = MAX_DATA_BYTES) -> bytes:
    return expand_payload(data, CTX, SOURCES, limit)


def test_fields_calls_and_trim_markers() -> None:
    data = (
        b"user={{.Service.Name}}-{{.Task.Slot}}\n"
        b'pass={{ secret "db_pass" }}\n'
        b'key={{secret `tls/key`}} site={{config "/etc/site.conf"}}\n'
        b'mode={{env "MODE"}} empty=[{{env "EMPTY"}}] none=[{{env "NOVALUE"}}] '
        b'eq={{env "EQ"}} tier={{index .Service.Labels "tier"}}\n'
        b"{{- /* a comment */ -}}\n"
        b"!"
    )
    assert expand(data) == (
        b"user=web-2\npass=hunter2\nkey=K site=listen 80;\n"
        b"mode=blue empty=[] none=[] eq=a=b tier=front!"
    )


def test_a_target_the_task_has_not_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match="'other' not found among the task's secrets"):
        expand(b'{{secret "other"}}')
    with pytest.raises(ValueError, match="'db_pass' not found among the task's configs"):
        expand(b'{{config "db_pass"}}')  # a secret's target is not a config's


def test_bytes_that_are_not_utf8_are_kept() -> None:
    raw = b"\xff\xfe{{.Node.Hostname}}\x80"
    assert expand(raw) == b"\xff\xfebox-1\x80"
    binary = PayloadSources(secrets={"bin": b"\x00\xff\x01"}, configs={})
    assert expand_payload(b'<{{secret "bin"}}>', CTX, binary, 100) == b"<\x00\xff\x01>"


def test_what_a_template_makes_is_bounded() -> None:
    big = PayloadSources(secrets={"s": b"x" * 600}, configs={})
    data = b'{{secret "s"}}' * 10
    assert len(expand_payload(data, CTX, big, 6000)) == 6000
    with pytest.raises(ValueError, match="expands to over 5999 bytes"):
        expand_payload(data, CTX, big, 5999)


def test_calls_are_for_payloads_only() -> None:
    """A service's fields are templates too, but cannot read secrets or the env."""
    parse_template('{{env "X"}}', PAYLOAD_FUNCTIONS)
    with pytest.raises(ValueError, match="works only in a templated secret's or config's"):
        parse_template('{{env "X"}}')
    container = ContainerSpec(image="busybox", env=('A={{secret "pw"}}',))
    with pytest.raises(TemplateError, match="works only in a templated"):
        expand_container(container, example_context("web", None))
    with pytest.raises(ValueError, match="unsupported action 'printf'"):
        parse_template('{{printf "%s" "x"}}', PAYLOAD_FUNCTIONS)
    with pytest.raises(ValueError, match="unsupported action 'secret'"):
        parse_template("{{secret}}", PAYLOAD_FUNCTIONS)  # a call takes one string


def test_create_refuses_an_unknown_driver_and_a_broken_template() -> None:
    validate_config_spec(ConfigSpec(name="c", data=b'{{env "X"}}', templating="golang"))
    validate_secret_spec(SecretSpec(name="s", data=b"{{ .Task.Name }}", templating="golang"))
    # without a driver, the same text is plain data
    validate_config_spec(ConfigSpec(name="c", data=b"{{ broken"))
    with pytest.raises(InvalidSpec, match="unknown template driver 'jinja' for a config"):
        validate_config_spec(ConfigSpec(name="c", data=b"x", templating="jinja"))
    with pytest.raises(InvalidSpec, match=r"the secret's template: unclosed action"):
        validate_secret_spec(SecretSpec(name="s", data=b"{{ broken", templating="golang"))
    with pytest.raises(InvalidSpec, match=r"unknown field \.Task\.Nope"):
        check_template_driver("golang", b"{{.Task.Nope}}", "config", MAX_DATA_BYTES)
