"""callcontrol.directory.passwords: scrypt strings and SIP digest HA1."""

from __future__ import annotations

import base64
import hashlib

import pytest

from callcontrol.directory.passwords import hash_password, sip_ha1_md5, sip_ha1_sha256, verify_password


def test_hash_is_self_describing_and_salted() -> None:
    first = hash_password("secret1001")
    second = hash_password("secret1001")
    scheme, n, r, p, salt, digest = first.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert len(base64.b64decode(salt)) == 16
    assert len(base64.b64decode(digest)) == 32
    assert "secret1001" not in first
    assert first != second  # fresh salt each time


def test_verify_right_and_wrong_password() -> None:
    encoded = hash_password("pässwörd ✓")
    assert verify_password("pässwörd ✓", encoded)
    assert not verify_password("passwörd ✓", encoded)
    assert not verify_password("", encoded)


def test_verify_uses_the_parameters_stored_in_the_hash() -> None:
    encoded = hash_password("cheap", n=2**10, r=4, p=2)
    assert encoded.startswith("scrypt$1024$4$2$")
    assert verify_password("cheap", encoded)
    assert not verify_password("dear", encoded)


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "plain-text",
        "bcrypt$16384$8$1$AAAA$AAAA",
        "scrypt$16384$8$1$not base64!$AAAA",
        "scrypt$x$8$1$AAAA$AAAA",
        "scrypt$16385$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAA==",  # n not a power of two
        "scrypt$1073741824$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAA==",  # n far too large
        "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$",
    ],
)
def test_malformed_hash_never_verifies(encoded: str) -> None:
    assert verify_password("anything", encoded) is False


def test_ha1_md5_rfc2617_example() -> None:
    # RFC 2617 section 3.5: Mufasa / testrealm@host.com / Circle Of Life.
    assert sip_ha1_md5("Mufasa", "testrealm@host.com", "Circle Of Life") == "939e7578ed9e3c518a452acee763bce9"


def test_ha1_for_demo_account() -> None:
    assert (
        sip_ha1_md5("1001", "callcontrol", "secret1001")
        == hashlib.md5(b"1001:callcontrol:secret1001").hexdigest()
    )
    assert (
        sip_ha1_sha256("1001", "callcontrol", "secret1001")
        == hashlib.sha256(b"1001:callcontrol:secret1001").hexdigest()
    )
    assert len(sip_ha1_sha256("1001", "callcontrol", "secret1001")) == 64
