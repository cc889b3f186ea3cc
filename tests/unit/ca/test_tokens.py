"""Join tokens: format, parsing errors, CA digest check, current-token check and rotation."""

from __future__ import annotations

import hashlib
import random
import re
import secrets

import pytest

from actors.ca.root import CertificateAuthority
from actors.ca.tokens import (
    InvalidJoinToken,
    MalformedJoinToken,
    WrongClusterToken,
    ca_digest,
    check_token_ca,
    new_join_token,
    new_join_tokens,
    parse_join_token,
    role_for_token,
    rotate_join_token,
    to_base36,
)
from api.enums import NodeRole

TOKEN_RE = re.compile(r"^SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$")


class Zero:
    def getrandbits(self, k: int) -> int:
        return 0


def test_format_lengths_and_prefix(ca: CertificateAuthority) -> None:
    token = new_join_token(ca.cert_pem, random.Random(1))
    assert TOKEN_RE.match(token)
    assert len(token) == len("SWMTKN-1-") + 50 + 1 + 25


def test_digest_is_sha256_of_der_in_base36(ca: CertificateAuthority) -> None:
    value = int.from_bytes(hashlib.sha256(ca.cert_der).digest(), "big")
    digest = ca_digest(ca.cert_pem)
    assert int(digest, 36) == value
    assert digest == ca_digest(ca.cert_der) == ca_digest(ca.cert)
    assert parse_join_token(new_join_token(ca.cert, random.Random(0))).ca_digest == digest


def test_zero_padding(ca: CertificateAuthority) -> None:
    token = new_join_token(ca.cert_pem, Zero())
    assert token.endswith("-" + "0" * 25)
    assert to_base36(35, 5) == "0000z"
    assert len(to_base36(2**256 - 1, 50)) == 50
    assert to_base36(1, 50) == "0" * 49 + "1"
    assert len(to_base36(2**128 - 1, 25)) == 25
    with pytest.raises(ValueError):
        to_base36(36**3, 3)


def test_repr_hides_secret(ca: CertificateAuthority) -> None:
    token = parse_join_token(new_join_token(ca.cert_pem, random.Random(3)))
    assert token.secret not in repr(token)
    assert str(token).endswith(token.secret)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("SWMKEY-1-abc", "must start with 'SWMTKN-'"),
        ("SWMTKN-1-abc", "4 dash-separated parts"),
        ("SWMTKN-2-" + "a" * 50 + "-" + "b" * 25, "version must be '1'"),
        ("SWMTKN-1-" + "a" * 49 + "-" + "b" * 25, "CA digest must be 50"),
        ("SWMTKN-1-" + "a" * 50 + "-" + "b" * 24, "secret must be 25"),
        ("SWMTKN-1-" + "A" * 50 + "-" + "b" * 25, r"CA digest has characters outside"),
        ("SWMTKN-1-" + "a" * 50 + "-" + "b" * 24 + "!", r"secret has characters outside"),
    ],
)
def test_parse_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(MalformedJoinToken, match=message) as info:
        parse_join_token(text)
    assert "b" * 24 not in str(info.value)


def test_parse_ignores_surrounding_whitespace(ca: CertificateAuthority) -> None:
    token = new_join_token(ca.cert_pem, random.Random(4))
    assert str(parse_join_token(f"  {token}\n")) == token


def test_check_token_ca(ca: CertificateAuthority, other_ca: CertificateAuthority) -> None:
    token = new_join_token(ca.cert_pem, random.Random(5))
    check_token_ca(token, ca.cert_pem)
    with pytest.raises(WrongClusterToken, match="different cluster"):
        check_token_ca(token, other_ca.cert_pem)


def test_roles_granted(ca: CertificateAuthority) -> None:
    tokens = new_join_tokens(ca.cert_pem, random.Random(6))
    assert tokens.worker != tokens.manager
    assert role_for_token(tokens.worker, tokens) is NodeRole.WORKER
    assert role_for_token(tokens.manager, tokens) is NodeRole.MANAGER


def test_rotation_refuses_old_secret_and_keeps_other(ca: CertificateAuthority) -> None:
    tokens = new_join_tokens(ca.cert_pem, random.Random(7))
    rotated = rotate_join_token(tokens, NodeRole.WORKER, ca.cert_pem, random.Random(8))
    assert rotated.manager == tokens.manager
    assert rotated.worker != tokens.worker
    with pytest.raises(InvalidJoinToken, match="wrong, rotated or forged"):
        role_for_token(tokens.worker, rotated)
    assert role_for_token(rotated.worker, rotated) is NodeRole.WORKER
    assert role_for_token(tokens.manager, rotated) is NodeRole.MANAGER


def test_forged_token_with_right_digest_refused(ca: CertificateAuthority) -> None:
    tokens = new_join_tokens(ca.cert_pem, random.Random(9))
    forged = f"SWMTKN-1-{ca.digest}-{to_base36(secrets.randbits(128), 25)}"
    with pytest.raises(InvalidJoinToken):
        role_for_token(forged, tokens)


def test_token_of_another_cluster_refused(
    ca: CertificateAuthority, other_ca: CertificateAuthority
) -> None:
    tokens = new_join_tokens(ca.cert_pem, random.Random(10))
    foreign = new_join_tokens(other_ca.cert_pem, random.Random(10))
    with pytest.raises(WrongClusterToken):
        role_for_token(foreign.worker, tokens)


def test_malformed_token_refused_by_role_check(ca: CertificateAuthority) -> None:
    tokens = new_join_tokens(ca.cert_pem, random.Random(11))
    with pytest.raises(MalformedJoinToken):
        role_for_token("SWMTKN-1-nope", tokens)
